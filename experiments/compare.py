#!/usr/bin/env python
"""The paper's comparison in miniature: MIMFlow against a pixel-space TarFlow, the two-stage pipeline and MIMFlow without
masking (and, on Fashion-MNIST, MIMFlow with the phase-2 decoder fine-tune), at an equal parameter budget, on two data
sets:

- `--data digits`: the bundled 16x16 digits, the `tiny` preset, equal numbers of steps (plus the pixel flow once more
  for MIMFlow's wall time);
- `--data fashion`: Fashion-MNIST at 32x32, the `small` preset, every variant trained for the same wall time.

    python experiments/compare.py --data fashion            # 3 seeds, 2 trainings at a time, one thread each
    python experiments/compare.py --data fashion --quick    # smoke test into /tmp: tiny budgets, 1 seed
    python experiments/compare.py --data fashion --analyse  # decoder floor, raw-pixel probe, guidance sweep
    python experiments/compare.py --data fashion --sweep-pixel   # the pixel flow's patch size and noise level

Every model comes from the library (`mimflow.model`, `mimflow.baselines`) and is scored by `mimflow.evaluate`; this
script only decides what to train for how long and collects the results. Each (variant, seed) writes one JSON (and a
sample grid PNG and its EMA weights) into the output folder; finished ones are skipped, so an interrupted run resumes.
`summary.json` holds the mean and spread over seeds, `samples_side_by_side.png` the grids.
"""
from __future__ import annotations
import argparse, io, json, os, platform, statistics, subprocess, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent
METRICS = ('fid_domain', 'class_acc', 'probe_top1', 'latent_bpd', 'recon_psnr')
TITLES = dict(mimflow='MIMFlow (joint, masked)', pixel_tarflow='pixel TarFlow', two_stage='two-stage (AE, then flow)',
              no_mask='MIMFlow, no masking', pixel_tarflow_wall='pixel TarFlow, same wall time', mimflow_phase2='MIMFlow + phase 2')
PROFILES = dict(
    digits=dict(preset='tiny', img_size=16, variants=('mimflow', 'pixel_tarflow', 'two_stage', 'no_mask', 'pixel_tarflow_wall'),
                needs=dict(pixel_tarflow_wall=('mimflow', 'pixel_tarflow')), sigma_pix=0.2, pix_patch=4, budget_s=None,
                n_per_class=100, probe_epochs=30, out=ROOT/'results'),
    fashion=dict(preset='small', img_size=32, variants=('mimflow', 'pixel_tarflow', 'two_stage', 'no_mask', 'mimflow_phase2'),
                 needs={}, sigma_pix=0.2, pix_patch=4, budget_s=1200, n_per_class=100, probe_epochs=30, out=ROOT/'results_fashion'))
GUIDANCE = (0., 0.25, 0.5, 0.75, 1., 1.5)


# ------------------------------------------------------------------------------------------------ models and training
def base_config(prof: dict, quick: bool, sets: dict):
    from mimflow.config import get_preset, replace
    cfg = get_preset(prof['preset'], **sets)
    return replace(cfg, **{'optim.epochs': 2}) if quick and prof['budget_s'] is None else cfg

def split(prof: dict, cfg):
    "The run's train and held-out images and labels (Fashion-MNIST: a stratified 10,000 of the training split)."
    from mimflow.data import data_splits, stack, stratified_subset
    train, valid, _ = data_splits(cfg)
    idx = None if len(train) <= 10000 else stratified_subset(train.targets, 10000, cfg.data.split_seed)
    return (*stack(train, idx), *stack(valid))

def step_time(model, dls, n: int = 12) -> float:
    "Median seconds per training step of `model` on batches of `dls` (after two warm-up steps), one thread."
    import torch
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-4)
    it, ts = iter(dls.train), []
    for i in range(n + 2):
        x, y = next(it)
        t = time.perf_counter(); model(x, y)['loss'].backward(); opt.step(); opt.zero_grad(); ts.append(time.perf_counter() - t)
    return statistics.median(ts[2:])

def fit(model, dls, steps: int|None = None, epochs: int|None = None):
    "Train with the library's learner (AdamW, clipping, EMA, the preset's schedule) for `steps` steps or `epochs` epochs."
    from mimflow.learner import mimflow_learner, fit_mimflow
    learn = mimflow_learner(model, dls, epochs=epochs, steps=steps, progress=False)
    with learn.no_logging(): fit_mimflow(learn)
    return learn

def calibrated(out: Path, key: str, make, dls, quick: bool) -> float:
    """Seconds per training step of the model `make()` builds, measured once (one thread) and kept in calibration.json,
    so that every seed of a variant trains the same number of steps whatever else the machine does meanwhile."""
    path = out/'calibration.json'
    cal = json.loads(path.read_text()) if path.exists() else {}
    if key not in cal:
        cal[key] = step_time(make(), dls, 4 if quick else 20)
        cal = {**(json.loads(path.read_text()) if path.exists() else {}), key: cal[key]}
        path.write_text(json.dumps(cal, indent=1))
    return cal[key]

def makers(variant: str, cfg, sigma_pix: float, pix_patch: int) -> dict:
    "{calibration key: a function that builds the model whose step time that key records} for `variant`."
    from mimflow.config import replace
    from mimflow.core import count_params
    from mimflow.model import MIMFlow, DecoderFinetune
    from mimflow.baselines import PixelTarFlow, FlowOnFrozenLatents, pixel_flow_width
    if variant in ('mimflow', 'no_mask'):
        return {variant: lambda: MIMFlow(cfg if variant == 'mimflow' else replace(cfg, **{'mask.min': 0., 'mask.max': 0.}))}
    if variant == 'mimflow_phase2': return {'mimflow': lambda: MIMFlow(cfg), 'phase2': lambda: DecoderFinetune(MIMFlow(cfg))}
    if variant == 'two_stage':
        def ae_only():
            m = MIMFlow(replace(cfg, **{'loss.nll': 0.})); m.flow.requires_grad_(False); return m
        return {'two_stage_ae': ae_only, 'two_stage_flow': lambda: FlowOnFrozenLatents(MIMFlow(cfg))}
    if variant.startswith('pixel'):
        ch, hd, _ = pixel_flow_width(cfg, count_params(MIMFlow(cfg), trainable=True), patch=pix_patch)
        return {f'pixel_p{pix_patch}_s{sigma_pix}': lambda: PixelTarFlow(cfg, ch, hd, sigma_pix, pix_patch)}
    raise ValueError(f'unknown variant {variant!r}')

def train_variant(variant: str, cfg, prof: dict, dls, seed: int, out: Path, quick: bool, sigma_pix: float, pix_patch: int) -> tuple:
    "Train one variant; return (model to evaluate, its last learner, info dict)."
    from mimflow.config import replace
    from mimflow.core import seed_everything, count_params
    from mimflow.model import MIMFlow, DecoderFinetune
    from mimflow.learner import mimflow_learner
    from mimflow.baselines import PixelTarFlow, FlowOnFrozenLatents, pixel_flow_width, train_two_stage
    budget = prof['budget_s'] and (60 if quick else prof['budget_s'])
    mimflow_params = count_params(MIMFlow(cfg), trainable=True)
    info = dict(mimflow_trainable_params=mimflow_params)
    steps = lambda key, make, seconds: max(2, int(seconds / calibrated(out, key, make, dls, quick)))
    no_mask = replace(cfg, **{'mask.min': 0., 'mask.max': 0.})
    if variant in ('mimflow', 'no_mask', 'mimflow_phase2'):
        c = no_mask if variant == 'no_mask' else cfg
        p2 = variant == 'mimflow_phase2'
        n1 = steps(*next(iter(makers(variant, cfg, sigma_pix, pix_patch).items())), budget * (0.8 if p2 else 1.)) if budget else None
        seed_everything(seed)
        learn = fit(MIMFlow(c), dls, steps=n1)
        info.update(steps_planned=n1)
        if not p2: return learn.ema_model.module, learn, info
        sd = learn.ema_model.module.state_dict()                         # the last fifth of the budget fine-tunes the decoder
        def fresh():
            base = MIMFlow(c); base.load_state_dict(sd); return DecoderFinetune(base)
        n2 = steps('phase2', makers(variant, cfg, sigma_pix, pix_patch)['phase2'], budget * 0.2) if budget else len(dls.train)
        seed_everything(seed)
        l2 = fit(fresh(), dls, steps=n2)
        info.update(phase2_steps=l2.global_step, _other_learners=[l2])
        return l2.ema_model.module.model, learn, info
    if variant == 'two_stage':
        mk = makers(variant, cfg, sigma_pix, pix_patch)                  # half of the time for each stage
        n = (steps('two_stage_ae', mk['two_stage_ae'], budget / 2), steps('two_stage_flow', mk['two_stage_flow'], budget / 2)) if budget else None
        seed_everything(seed)
        model, (l1, l2) = train_two_stage(cfg, dls, steps=n)
        info.update(stage_steps=[l1.global_step, l2.global_step], _other_learners=[l1])
        return model, l2, info
    if variant in ('pixel_tarflow', 'pixel_tarflow_wall'):
        ch, hd, n = pixel_flow_width(cfg, mimflow_params, patch=pix_patch)
        info.update(pixel_channels=ch, pixel_head_dim=hd, sigma_pix=sigma_pix, patch=pix_patch, trainable_params=n)
        make = lambda: PixelTarFlow(cfg, ch, hd, sigma_pix, pix_patch)
        if budget:
            n1 = steps(*next(iter(makers(variant, cfg, sigma_pix, pix_patch).items())), budget)
            seed_everything(seed)
            info.update(steps_planned=n1)
            m = make(); return m, fit(m, dls, steps=n1), info
        epochs = cfg.optim.epochs
        if variant == 'pixel_tarflow_wall':                              # as many epochs as fit in MIMFlow's training time
            t = {v: json.loads((out/f'{v}_s{seed}.json').read_text())['train_time_s'] for v in prof['needs'][variant]}
            epochs = max(1, round(cfg.optim.epochs * t['mimflow'] / t['pixel_tarflow']))
            info.update(wall_ratio=round(t['mimflow'] / t['pixel_tarflow'], 3))
        seed_everything(seed)
        m = make(); return m, fit(m, dls, epochs=epochs), info
    raise ValueError(f'unknown variant {variant!r}')

def save_grid(samples, per_class: int, path, per_row: int = 10):
    "Samples ordered by class, `per_class` each: the first `per_row` of each class as one PNG, 3x upscaled."
    import torch
    from PIL import Image
    n_cls = len(samples) // per_class
    rows = samples.view(n_cls, per_class, *samples.shape[1:])[:, :per_row]
    rows = torch.nn.functional.pad(rows, (1, 1, 1, 1), value=1.)
    grid = rows.permute(0, 3, 1, 4, 2).reshape(n_cls * rows.shape[3], per_row * rows.shape[4])   # channel 0 only
    img = (grid.clamp(0, 1) * 255).round().byte().numpy()
    Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3), Image.NEAREST).save(path)

def run_one(data: str, variant: str, seed: int, out: Path, quick: bool, sets: dict, sigma_pix: float, pix_patch: int) -> dict:
    "Train and evaluate one (variant, seed); write VARIANT_sSEED.json, samples_VARIANT_sSEED.png and the EMA weights."
    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    from mimflow.config import config_to_dict
    from mimflow.core import seed_everything
    from mimflow.data import get_dls
    from mimflow.evaluate import evaluate
    prof = PROFILES[data]
    cfg = base_config(prof, quick, sets)
    n_per_class, probe_epochs = (20, 3) if quick else (prof['n_per_class'], prof['probe_epochs'])
    seed_everything(seed)
    dls = get_dls(cfg)
    model, learn, info = train_variant(variant, cfg, prof, dls, seed, out, quick, sigma_pix, pix_patch)
    info.update(variant=variant, seed=seed, quick=quick, data=data, preset=cfg.name, train_time_s=round(train_seconds(learn, info), 1),
                steps_done=learn.global_step, final_train_terms=train_terms_tail(learn))
    info.setdefault('trainable_params', info['mimflow_trainable_params'])
    x_train, y_train, x_valid, y_valid = split(prof, cfg)
    t1 = time.time()
    model.eval()
    from mimflow.classifier import DomainClassifier
    met, grid = evaluate(model, x_train, y_train, x_valid, y_valid, run_dir=out, n_per_class=n_per_class, probe_epochs=probe_epochs,
                         seed=seed, classifier=DomainClassifier.load(out/'domain_classifier.pt'))
    info['eval_time_s'] = round(time.time() - t1, 1)
    info['metrics'] = {k: (None if v is None else float(v)) for k, v in met.items()}
    info['config'] = json.loads(json.dumps(config_to_dict(cfg)))
    save_grid(grid, 10, out/f'samples_{variant}_s{seed}.png')
    torch.save(dict(state=model.state_dict(), info={k: v for k, v in info.items() if k != 'metrics'}), out/f'{variant}_s{seed}.pt')
    (out/f'{variant}_s{seed}.json').write_text(json.dumps(info, indent=1))
    return info

def train_seconds(learn, info: dict) -> float:
    "Training time of the run (both learners of a two-stage or phase-2 run)."
    from mimflow.learner import train_time
    return train_time(learn) + sum(train_time(l) for l in info.pop('_other_learners', []))

def train_terms_tail(learn, n: int = 50) -> dict:
    "Mean of each recorded training term over the last `n` steps."
    tr = learn.terms.train[-n:]
    return {k: sum(r[k] for r in tr) / len(tr) for k in tr[-1] if k != 'step'}


# ------------------------------------------------------------------------------------------------ analysis
def load_saved(out: Path, stem: str):
    "The EMA model saved as `stem`.pt (with its `stem`.json), in eval mode."
    import torch
    from mimflow.config import config_from_dict
    from mimflow.model import MIMFlow
    from mimflow.baselines import PixelTarFlow
    info = json.loads((out/f'{stem}.json').read_text())
    cfg = config_from_dict(info['config'])
    if info['variant'].startswith('pixel'): m = PixelTarFlow(cfg, info['pixel_channels'], info['pixel_head_dim'], info['sigma_pix'], info['patch'])
    else: m = MIMFlow(cfg)                       # masking acts only in train mode, so the base config serves every MIMFlow variant
    sd = torch.load(out/f'{stem}.pt', map_location='cpu', weights_only=False)['state']
    m.load_state_dict({k: v for k, v in sd.items() if not k.startswith('disc.')}, strict=not info['variant'].endswith('phase2'))
    return m.eval(), info

def data_and_classifier(data: str, out: Path, quick: bool = False):
    "The train/held-out split of `data` in [-1,1] and the shared domain classifier of `out` (trained once, then loaded)."
    from mimflow.classifier import domain_classifier
    from mimflow.fid import to_unit
    from mimflow.data import data_splits, stack
    prof = PROFILES[data]
    cfg = base_config(prof, quick, {})
    train, valid, _ = data_splits(cfg)                                  # the classifier learns from the whole training split
    (xa, ya), (xv, yv) = stack(train), stack(valid)
    clf = domain_classifier(to_unit(xa), ya, to_unit(xv), yv, out/'domain_classifier.pt', seed=0,
                            data_id=f'{cfg.data.source} {cfg.in_chans}x{cfg.img_size}px', epochs=8 if data == 'digits' else 15)
    return (*split(prof, cfg), clf)

def decoder_floor(data: str, out: Path) -> dict:
    """FID-domain of reconstructions decode(encode(x) + sigma*eps) of 1,000 training images, per saved MIMFlow-type
    model: the FID a perfect flow would get through that decoder. Also the held-out real images' FID, for scale, the
    classifier's accuracy on the official test set (Fashion-MNIST), and the raw-pixel linear probe."""
    import torch
    torch.set_num_threads(2)
    from mimflow.fid import compute_fid, to_unit
    from mimflow.classifier import class_accuracy
    from mimflow.probe import linear_probe
    xt, yt, xv, yv, clf = data_and_classifier(data, out)
    res = dict(real_heldout=compute_fid(to_unit(xt), to_unit(xv), clf.feature_net()), n_heldout=len(xv),
               classifier_valid_acc=clf.valid_acc)
    if data == 'fashion':
        from mimflow.data import fashion_tensors
        xte, yte = fashion_tensors('test', 32)
        res['classifier_test_acc'] = class_accuracy(clf, to_unit(xte), yte)
    for f in sorted(out.glob('*_s[0-9].pt')):
        m, info = load_saved(out, f.stem)
        if info['variant'].startswith('pixel'): continue
        torch.manual_seed(0)
        with torch.no_grad(): rec = torch.cat([m.reconstruct(xt[i:i + 250]) for i in range(0, 1000, 250)])
        res[f.stem] = compute_fid(to_unit(xt), to_unit(rec), clf.feature_net())
    res['raw_pixel_probe_top1'] = [linear_probe(xt.flatten(1), yt, xv.flatten(1), yv, epochs=30, seed=s)['top1'] for s in range(3)]
    (out/'decoder_floor.json').write_text(json.dumps(res, indent=1))
    return res

def guidance_sweep(data: str, out: Path, weights=GUIDANCE, n_per_class: int = 100) -> dict:
    """FID-domain and class accuracy of every saved model at each guidance weight w of a = a_c + w (a_c - a_u): w = 0 is
    the conditional flow alone, w > 0 pushes tokens away from the null class. The same noise seed per model: each
    variant can be compared at its own best weight, not only at the preset's."""
    import torch
    from mimflow.fid import FIDScorer, to_unit
    from mimflow.classifier import predict
    from mimflow.model import sample_batches
    xt, _, _, _, clf = data_and_classifier(data, out)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    res = {}
    for f in sorted(out.glob('*_s[0-9].pt')):
        m, info = load_saved(out, f.stem)
        for w in weights:
            fid, correct = FIDScorer(clf.feature_net()).update(to_unit(xt), real=True), 0
            for s, y, _ in sample_batches(m, labels, 500, seed=info['seed'], guidance=w):
                fid.update(s, real=False); correct += (predict(clf, s) == y).sum().item()
            res.setdefault(info['variant'], {}).setdefault(str(info['seed']), {})[str(w)] = dict(fid_domain=fid.compute(), class_acc=correct / len(labels))
        print(f.stem, {w: round(d['fid_domain'], 3) for w, d in res[info['variant']][str(info['seed'])].items()}, flush=True)
    (out/'guidance_sweep.json').write_text(json.dumps(res, indent=1))
    return res


# ------------------------------------------------------------------------------------------------ orchestration
def summarise(data: str, out: Path, seeds) -> dict:
    "Mean, std, min and max over seeds of every metric, per variant."
    summary = {}
    for v in PROFILES[data]['variants']:
        runs = [json.loads((out/f'{v}_s{s}.json').read_text()) for s in seeds if (out/f'{v}_s{s}.json').exists()]
        if not runs: continue
        d = dict(n_seeds=len(runs), seeds=[r['seed'] for r in runs], trainable_params=runs[0]['trainable_params'],
                 steps=statistics.mean(r['steps_done'] for r in runs), train_time_s=statistics.mean(r['train_time_s'] for r in runs))
        for k in (*METRICS, 'domain_classifier_acc', 'samples_per_s'):
            vals = [r['metrics'][k] for r in runs if r['metrics'].get(k) is not None]
            if vals: d[k] = dict(mean=statistics.mean(vals), std=statistics.stdev(vals) if len(vals) > 1 else 0.,
                                 min=min(vals), max=max(vals), values=vals)
        summary[v] = d
    (out/'summary.json').write_text(json.dumps(summary, indent=1))
    return summary

def side_by_side(data: str, out: Path, seed: int = 0):
    "The seed-`seed` sample grids of every variant next to each other, titled."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from PIL import Image
    vs = [v for v in PROFILES[data]['variants'] if (out/f'samples_{v}_s{seed}.png').exists()]
    if not vs: return
    fig, axs = plt.subplots(1, len(vs), figsize=(3.2 * len(vs), 3.6), squeeze=False)
    for a, v in zip(axs[0], vs):
        a.imshow(Image.open(out/f'samples_{v}_s{seed}.png'), cmap='gray', vmin=0, vmax=255); a.axis('off'); a.set_title(TITLES[v], fontsize=9)
    fig.suptitle(f'conditional samples, one row per class (seed {seed})'); fig.tight_layout()
    buf = io.BytesIO(); fig.savefig(buf, dpi=110); plt.close(fig)
    Image.open(buf).convert('L').save(out/'samples_side_by_side.png', optimize=True)

def orchestrate(data: str, out: Path, jobs: list[tuple], n_jobs: int, extra: list[str], needs: dict):
    "Run the (variant, seed) jobs as worker subprocesses, `n_jobs` at a time, each after the runs it needs."
    running, t0 = [], time.time()
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    todo = [j for j in jobs if not (out/f'{j[0]}_s{j[1]}.json').exists()]
    print(f'{len(todo)} trainings to run, {n_jobs} at a time, into {out}', flush=True)
    while todo or running:
        while todo and len(running) < n_jobs:
            ready = [j for j in todo if all((out/f'{d}_s{j[1]}.json').exists() for d in needs.get(j[0], ()))]
            if not ready:
                if running: break
                raise SystemExit(f'cannot run {todo}: they need {[needs[v] for v, _ in todo]} for the same seeds')
            v, s = ready[0]; todo.remove((v, s))
            log = open(out/f'{v}_s{s}.log', 'w')
            cmd = [sys.executable, str(Path(__file__).resolve()), '--data', data, '--worker', v, str(s), '--out', str(out), *extra]
            running.append((v, s, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(2)
        for r in list(running):
            v, s, proc, log = r
            if proc.poll() is None: continue
            running.remove(r); log.close()
            ok = proc.returncode == 0 and (out/f'{v}_s{s}.json').exists()
            print(f'[{time.time() - t0:6.0f}s] {v} seed {s}: ' + ('done' if ok else f'FAILED (rc {proc.returncode}, see {out}/{v}_s{s}.log)'), flush=True)
    return time.time() - t0

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', choices=tuple(PROFILES), default='digits')
    p.add_argument('--quick', action='store_true', help='smoke test: tiny budgets, 1 seed, small evaluation, into /tmp')
    p.add_argument('--out', type=Path, default=None, help='output folder (default: experiments/results[_fashion])')
    p.add_argument('--seeds', type=int, nargs='+', default=None, help='seeds (default 0 1 2; 0 with --quick)')
    p.add_argument('--variants', nargs='+', default=None)
    p.add_argument('--jobs', type=int, default=2, help='trainings in parallel (each uses one thread)')
    p.add_argument('--set', action='append', default=[], help='a setting key=value for the preset (pilot runs)')
    p.add_argument('--budget', type=float, default=None, help='training seconds per run (equal-wall-time profiles; pilot runs)')
    p.add_argument('--sigma-pix', type=float, default=None, help='noise std on [-1,1] pixels for the pixel TarFlow')
    p.add_argument('--pix-patch', type=int, default=None, help='patch size of the pixel TarFlow')
    p.add_argument('--analyse', action='store_true', help='only analyse the saved models: decoder floor and guidance sweep')
    p.add_argument('--sweep-pixel', action='store_true', help="the pixel TarFlow at patch 4 and 8 x noise 0.1, 0.2, 0.3 (seed 0)")
    p.add_argument('--calibrate', action='store_true', help="only measure every variant's seconds per step (calibration.json), one after another")
    p.add_argument('--worker', nargs=2, metavar=('VARIANT', 'SEED'), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    prof = PROFILES[a.data] = {**PROFILES[a.data], **({'budget_s': a.budget} if a.budget else {})}
    out = a.out or (Path(f'/tmp/compare_{a.data}_quick') if a.quick else prof['out'])
    out.mkdir(parents=True, exist_ok=True)
    seeds = a.seeds or ([0] if a.quick else [0, 1, 2])
    sets = dict(s.split('=', 1) for s in a.set)
    sigma_pix, pix_patch = a.sigma_pix or prof['sigma_pix'], a.pix_patch or prof['pix_patch']
    extra = (['--quick'] if a.quick else []) + [f'--set={s}' for s in a.set] + ['--sigma-pix', str(sigma_pix), '--pix-patch', str(pix_patch)] \
            + (['--budget', str(a.budget)] if a.budget else [])
    if a.worker:
        info = run_one(a.data, a.worker[0], int(a.worker[1]), out, a.quick, sets, sigma_pix, pix_patch)
        print(json.dumps(dict(variant=info['variant'], seed=info['seed'], train_time_s=info['train_time_s'], **info['metrics'])))
        return
    import torch; torch.set_num_threads(max(1, a.jobs))
    clf = data_and_classifier(a.data, out, a.quick)[-1]                 # trained once, before the workers race for it
    print(f'domain classifier: valid acc {clf.valid_acc:.4f}', flush=True)
    if a.analyse:
        print(json.dumps(decoder_floor(a.data, out), indent=1)); guidance_sweep(a.data, out); return
    if a.calibrate:                                                     # in a quiet moment, before the runs: all variants alike
        torch.set_num_threads(1)
        from mimflow.data import get_dls
        cfg = base_config(prof, a.quick, sets); dls = get_dls(cfg)
        for v in a.variants or prof['variants']:
            for key, make in makers(v, cfg, sigma_pix, pix_patch).items(): calibrated(out, key, make, dls, a.quick)
        print((out/'calibration.json').read_text()); return
    if a.sweep_pixel:
        for patch in (4, 8):
            for sg in (0.1, 0.2, 0.3):
                sub = out/f'pixel_sweep_p{patch}_s{sg}'; sub.mkdir(exist_ok=True)
                if not (sub/'domain_classifier.pt').exists(): (sub/'domain_classifier.pt').write_bytes((out/'domain_classifier.pt').read_bytes())
                orchestrate(a.data, sub, [('pixel_tarflow', 0)], a.jobs, (['--quick'] if a.quick else []) + ['--sigma-pix', str(sg), '--pix-patch', str(patch)], {})
        return
    variants = a.variants or prof['variants']
    jobs = [(v, s) for s in seeds for v in variants]                    # seed-major: a cut-short run still compares all variants
    wall = orchestrate(a.data, out, jobs, a.jobs, extra, prof['needs'])
    summarise(a.data, out, seeds); side_by_side(a.data, out, seeds[0])
    info_path = out/'run_info.json'
    prev = json.loads(info_path.read_text()) if info_path.exists() else {}
    info_path.write_text(json.dumps(dict(prev, **{f'wall_s_{time.strftime("%Y%m%d-%H%M%S")}': round(wall, 1)}, cpus=os.cpu_count(),
        jobs=a.jobs, torch=torch.__version__, python=platform.python_version(), seeds=seeds, sigma_pix=sigma_pix, pix_patch=pix_patch,
        quick=a.quick), indent=1))

if __name__ == '__main__': main()
