#!/usr/bin/env python
"""The paper's comparison in miniature: MIMFlow against a pixel-space TarFlow, the two-stage pipeline and MIMFlow without
masking (and, on Fashion-MNIST, without its phase-2 decoder fine-tune), at an equal parameter budget, on two data sets:

- `--data digits`: the bundled 16x16 digits, the `tiny` preset, equal numbers of steps (plus the pixel flow once more
  for MIMFlow's wall time);
- `--data fashion`: Fashion-MNIST at 32x32, the `small` preset as tuned (phase 1, then phase 2), every variant
  trained for the wall time the preset takes; each ablation removes one ingredient (phase 2, masking, joint training).

    python experiments/compare.py --data fashion --calibrate     # step times, in a quiet moment, before the runs
    python experiments/compare.py --data fashion --sweep-pixel   # the pixel flow's patch size and noise level (seed 0)
    python experiments/compare.py --data fashion                 # the runs, 2 at a time, one thread each
    python experiments/compare.py --data fashion --analyse       # the yardstick, raw-pixel probe, guidance sweep
    python experiments/compare.py --data fashion --quick         # smoke test into /tmp: tiny budgets, 1 seed

Every model comes from the library (`mimflow.model`, `mimflow.baselines`) and is scored by `mimflow.evaluate` with the
data set's shipped domain classifier; this script only decides what to train for how long and collects the results.
Each (variant, seed) writes one JSON (and a sample grid PNG and its EMA weights as safetensors) into the output
folder; finished ones are skipped, so an interrupted run resumes. `summary.json` holds the mean and spread over
seeds, the profile's `grids` the sample grids of seed 0 side by side (`samples_side_by_side.png` on the digits,
`samples_core.png` and `samples_ablations.png` on Fashion-MNIST).
"""
from __future__ import annotations
import argparse, json, os, platform, shutil, statistics, subprocess, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent
METRICS = ('fid_domain', 'fid_detail', 'class_acc', 'probe_top1', 'latent_bpd', 'recon_psnr', 'recon_fid', 'recon_fid_detail', 'samples_per_s')
from report import TITLES, FASHION_TITLES                                  # the models' names, one place for the tables and the grids
PROFILES = dict(
    digits=dict(preset='tiny', img_size=16, variants=('mimflow', 'pixel_tarflow', 'two_stage', 'no_mask', 'pixel_tarflow_wall'),
                needs=dict(pixel_tarflow_wall=('mimflow', 'pixel_tarflow')), sigma_pix=0.2, pix_patch=4, budget_s=None,
                n_per_class=100, probe_epochs=30, out=ROOT/'results', titles=TITLES,
                grids={'samples_side_by_side.png': ('mimflow', 'pixel_tarflow', 'pixel_tarflow_wall', 'two_stage', 'no_mask')}),
    fashion=dict(preset='small', img_size=32, variants=('mimflow_phase2', 'pixel_tarflow', 'mimflow', 'no_mask', 'two_stage'),
                 needs={}, sigma_pix=0.2, pix_patch=4, budget_s='preset', n_per_class=100, probe_epochs=30, out=ROOT/'results_fashion',
                 core=('mimflow_phase2', 'pixel_tarflow'), titles=FASHION_TITLES,
                 grids={'samples_core.png': ('mimflow_phase2', 'pixel_tarflow'), 'samples_ablations.png': ('mimflow', 'no_mask', 'two_stage')}))
GUIDANCE = dict(digits=(0., 0.25, 0.5, 0.75, 1., 1.5), fashion=(0., 1., 2., 3.))


# ------------------------------------------------------------------------------------------------ models and training
def base_config(prof: dict, quick: bool, sets: dict):
    from mimflow.config import get_preset, replace
    cfg = get_preset(prof['preset'], **sets)
    if quick and prof['budget_s'] is None: return replace(cfg, **{'optim.epochs': 2})
    if quick: return replace(cfg, **{'optim.steps': 30, 'phase2.steps': 10})
    return cfg

def split(prof: dict, cfg):
    "The run's train and held-out images and labels for evaluation (Fashion-MNIST: a stratified 10,000 of the training split)."
    from mimflow.runs import eval_data
    return eval_data(cfg, 10000)

def perceptual(cfg):
    from mimflow.losses import build_perceptual
    return build_perceptual(cfg)

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
    "Train with the library's learner (AdamW, clipping, EMA, the config's schedule) for `steps` steps or `epochs` epochs."
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

def no_mask_cfg(cfg):
    from mimflow.config import replace
    return replace(cfg, **{'mask.min': 0., 'mask.max': 0.})

def makers(variant: str, cfg, sigma_pix: float, pix_patch: int) -> dict:
    "{calibration key: a function that builds the model whose step time that key records} for `variant`."
    from mimflow.config import replace
    from mimflow.core import count_params
    from mimflow.model import MIMFlow, DecoderFinetune
    from mimflow.baselines import PixelTarFlow, FlowOnFrozenLatents, pixel_flow_width
    phase2 = {'phase2': lambda: DecoderFinetune(MIMFlow(cfg), perceptual(cfg))}
    if variant in ('mimflow', 'mimflow_phase2'): return {'mimflow': lambda: MIMFlow(cfg), **(phase2 if variant == 'mimflow_phase2' else {})}
    if variant == 'no_mask': return {'no_mask': lambda: MIMFlow(no_mask_cfg(cfg)), **(phase2 if cfg.phase2.steps else {})}
    if variant == 'two_stage':
        def ae_only():
            m = MIMFlow(replace(cfg, **{'loss.nll': 0.})); m.flow.requires_grad_(False); return m
        return {'two_stage_ae': ae_only, 'two_stage_flow': lambda: FlowOnFrozenLatents(MIMFlow(cfg)), **(phase2 if cfg.phase2.steps else {})}
    if variant.startswith('pixel'):
        ch, hd, _ = pixel_flow_width(cfg, count_params(MIMFlow(cfg), trainable=True), patch=pix_patch)
        return {f'pixel_p{pix_patch}_s{sigma_pix}': lambda: PixelTarFlow(cfg, ch, hd, sigma_pix, pix_patch)}
    raise ValueError(f'unknown variant {variant!r}')

def budget_seconds(prof: dict, cfg, out: Path, dls, quick: bool) -> float|None:
    "The wall time every variant gets: the preset's own (its phase-1 and phase-2 steps at their calibrated step times), or a number of seconds."
    if prof['budget_s'] != 'preset': return prof['budget_s'] and (60 if quick else prof['budget_s'])
    mk = makers('mimflow_phase2', cfg, 0., 4)
    return cfg.optim.steps * calibrated(out, 'mimflow', mk['mimflow'], dls, quick) + cfg.phase2.steps * calibrated(out, 'phase2', mk['phase2'], dls, quick)

def finetune(model, dls, steps: int, seed: int):
    "Phase 2 of `model` (its decoder, `steps` steps, the config's phase-2 settings); returns (the EMA model, the learner)."
    from mimflow.core import seed_everything
    from mimflow.model import DecoderFinetune
    seed_everything(seed)
    l2 = fit(DecoderFinetune(model, perceptual(model.cfg)), dls, steps=steps)
    return l2.ema_model.module.model, l2

def train_variant(variant: str, cfg, prof: dict, dls, seed: int, out: Path, quick: bool, sigma_pix: float, pix_patch: int) -> tuple:
    "Train one variant; return (model to evaluate, its last learner, info dict)."
    from mimflow.config import replace
    from mimflow.core import seed_everything, count_params
    from mimflow.model import MIMFlow
    from mimflow.baselines import PixelTarFlow, pixel_flow_width, train_two_stage
    budget = budget_seconds(prof, cfg, out, dls, quick)
    mimflow_params = count_params(MIMFlow(cfg), trainable=True)
    info = dict(mimflow_trainable_params=mimflow_params, budget_s=budget)
    mk = makers(variant, cfg, sigma_pix, pix_patch)
    steps = lambda key, seconds: max(2, int(seconds / calibrated(out, key, mk[key], dls, quick)))
    n2 = cfg.phase2.steps if prof['budget_s'] == 'preset' else 0           # the preset's phase 2, for every variant that has one
    rest = budget - (n2 * calibrated(out, 'phase2', mk['phase2'], dls, quick) if n2 and 'phase2' in mk else 0) if budget else None
    if variant in ('mimflow', 'mimflow_phase2', 'no_mask'):
        c = no_mask_cfg(cfg) if variant == 'no_mask' else cfg
        key = 'no_mask' if variant == 'no_mask' else 'mimflow'
        n1 = cfg.optim.steps if variant == 'mimflow_phase2' and prof['budget_s'] == 'preset' else (steps(key, rest if 'phase2' in mk else budget) if budget else None)
        seed_everything(seed)
        learn = fit(MIMFlow(c), dls, steps=n1)
        info.update(steps_planned=n1)
        if 'phase2' not in mk: return learn.ema_model.module, learn, info
        model, l2 = finetune(learn.ema_model.module, dls, n2, seed)
        info.update(phase2_steps=l2.global_step, _other_learners=[learn])
        return model, l2, info
    if variant == 'two_stage':                                         # half of the phase-1 time for each stage
        n = (steps('two_stage_ae', rest / 2), steps('two_stage_flow', rest / 2)) if budget else None
        seed_everything(seed)
        model, (l1, l2) = train_two_stage(cfg, dls, steps=n)
        info.update(stage_steps=[l1.global_step, l2.global_step], _other_learners=[l1])
        if 'phase2' not in mk: return model, l2, info
        model, l3 = finetune(model, dls, n2, seed)
        info.update(phase2_steps=l3.global_step, _other_learners=[l1, l2])
        return model, l3, info
    if variant in ('pixel_tarflow', 'pixel_tarflow_wall'):
        ch, hd, n = pixel_flow_width(cfg, mimflow_params, patch=pix_patch)
        info.update(pixel_channels=ch, pixel_head_dim=hd, sigma_pix=sigma_pix, patch=pix_patch, trainable_params=n)
        make = lambda: PixelTarFlow(cfg, ch, hd, sigma_pix, pix_patch)
        if budget:
            n1 = steps(next(iter(mk)), budget)
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
    from mimflow.core import seed_everything, save_tensors
    from mimflow.data import get_dls
    from mimflow.evaluate import evaluate
    from mimflow.classifier import classifier_for
    prof = PROFILES[data]
    cfg = base_config(prof, quick, sets)
    n_per_class, probe_epochs = (20, 3) if quick else (prof['n_per_class'], prof['probe_epochs'])
    seed_everything(seed)
    dls = get_dls(cfg)
    model, learn, info = train_variant(variant, cfg, prof, dls, seed, out, quick, sigma_pix, pix_patch)
    learners = [*info.pop('_other_learners', []), learn]                 # every learner of the run: stages, phases
    info.update(variant=variant, seed=seed, quick=quick, data=data, preset=cfg.name, train_time_s=round(train_seconds(learners), 1),
                steps_done=sum(l.global_step for l in learners), final_train_terms=train_terms_tail(learn))
    info.setdefault('trainable_params', info['mimflow_trainable_params'])
    t1 = time.time()
    model.eval()
    met, grid = evaluate(model, *split(prof, cfg), classifier=classifier_for(cfg), n_per_class=n_per_class, probe_epochs=probe_epochs, seed=seed)
    info['eval_time_s'] = round(time.time() - t1, 1)
    info['metrics'] = {k: (None if v is None else v if isinstance(v, str) else float(v)) for k, v in met.items()}
    info['config'] = json.loads(json.dumps(config_to_dict(cfg)))
    save_grid(grid, 10, out/f'samples_{variant}_s{seed}.png')
    save_tensors(out/f'{variant}_s{seed}.safetensors', model.state_dict(), {k: v for k, v in info.items() if k != 'metrics'})
    (out/f'{variant}_s{seed}.json').write_text(json.dumps(info, indent=1))
    return info

def train_seconds(learners: list) -> float:
    "Training time of the run: all its learners (the stages of a two-stage run, the phases of a phase-2 run)."
    from mimflow.learner import train_time
    return sum(train_time(l) for l in learners)

def train_terms_tail(learn, n: int = 50) -> dict:
    "Mean of each recorded training term over the last `n` steps."
    tr = learn.terms.train[-n:]
    return {k: sum(r[k] for r in tr) / len(tr) for k in tr[-1] if k != 'step'}


# ------------------------------------------------------------------------------------------------ analysis
def load_saved(out: Path, stem: str):
    "The EMA model saved as `stem`.safetensors (with its `stem`.json), in eval mode."
    from mimflow.config import config_from_dict
    from mimflow.core import load_tensors
    from mimflow.model import MIMFlow
    from mimflow.baselines import PixelTarFlow
    info = json.loads((out/f'{stem}.json').read_text())
    cfg = config_from_dict(info['config'])
    if info['variant'].startswith('pixel'): m = PixelTarFlow(cfg, info['pixel_channels'], info['pixel_head_dim'], info['sigma_pix'], info['patch'])
    else: m = MIMFlow(cfg)                       # masking acts only in train mode, so the base config serves every MIMFlow variant
    sd, _ = load_tensors(out/f'{stem}.safetensors', 'saved model')
    m.load_state_dict(sd)
    return m.eval(), info

def data_and_classifier(data: str, quick: bool = False):
    "The evaluation split of `data` in [-1,1] and the data set's domain classifier (shipped with mimflow)."
    from mimflow.classifier import classifier_for
    prof = PROFILES[data]
    cfg = base_config(prof, quick, {})
    return (*split(prof, cfg), classifier_for(cfg, progress=True))

def yardstick(data: str, out: Path) -> dict:
    """What FID-domain and FID-detail read, at the sample count of the comparison (1,000): real held-out images
    against the reference (the floor), and the same images blurred (Gaussian, sigma 0.5 and 1 px) or with noise
    N(0, 0.1^2) added; the classifier's accuracy on the official test set; the raw-pixel linear probe."""
    import torch, torchvision.transforms.functional as TF
    torch.set_num_threads(2)
    from mimflow.fid import compute_fid, to_unit
    from mimflow.classifier import class_accuracy
    from mimflow.probe import linear_probe
    xt, yt, xv, yv, clf = data_and_classifier(data)
    n = 10 * PROFILES[data]['n_per_class']
    real, g = to_unit(xv[:n]), torch.Generator().manual_seed(0)
    cases = {'real held-out': real, 'blur sigma 0.5': TF.gaussian_blur(real, 5, 0.5), 'blur sigma 1': TF.gaussian_blur(real, 5, 1.),
             'noise 0.1': (real + 0.1 * torch.randn(real.shape, generator=g)).clamp(0, 1)}
    res = dict(n=n, domain={k: compute_fid(to_unit(xt), v, clf.feature_net()) for k, v in cases.items()},
               detail={k: compute_fid(to_unit(xt), v, clf.detail_net()) for k, v in cases.items()}, classifier_valid_acc=clf.valid_acc,
               classifier_sha256=clf.digest)
    if data == 'fashion':
        from mimflow.data import fashion_tensors
        xte, yte = fashion_tensors('test', 32)
        res['classifier_test_acc'] = class_accuracy(clf, to_unit(xte), yte)
    res['raw_pixel_probe_top1'] = [linear_probe(xt.flatten(1), yt, xv.flatten(1), yv, epochs=30, seed=s)['top1'] for s in range(3)]
    (out/'yardstick.json').write_text(json.dumps(res, indent=1))
    return res

def guidance_sweep(data: str, out: Path, n_per_class: int = 100) -> dict:
    """FID-domain, FID-detail and class accuracy of every saved model at each guidance weight w of a = a_c + w (a_c - a_u):
    w = 0 is the conditional flow alone, w > 0 pushes tokens away from the null class. The same noise seed per model:
    each variant can be compared at its own best weight, not only at the preset's."""
    import torch
    from mimflow.fid import FIDScorer, to_unit
    from mimflow.classifier import predict
    from mimflow.model import sample_batches
    xt, _, _, _, clf = data_and_classifier(data)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    path = out/'guidance_sweep.json'
    res = json.loads(path.read_text()) if path.exists() else {}
    for f in sorted(out.glob('*_s[0-9].json')):
        m, info = load_saved(out, f.stem)
        if str(info['seed']) in res.get(info['variant'], {}): continue
        for w in GUIDANCE[data]:
            fid, fid_d, correct = FIDScorer(clf.feature_net()).update(to_unit(xt), True), FIDScorer(clf.detail_net()).update(to_unit(xt), True), 0
            for s, y, _ in sample_batches(m, labels, 500, seed=info['seed'], sampling=m.sampling_config(guidance=w)):
                fid.update(s, real=False); fid_d.update(s, real=False); correct += (predict(clf, s) == y).sum().item()
            res.setdefault(info['variant'], {}).setdefault(str(info['seed']), {})[str(w)] = dict(fid_domain=fid.compute(), fid_detail=fid_d.compute(),
                                                                                                 class_acc=correct / len(labels))
        print(f.stem, {w: round(d['fid_domain'], 3) for w, d in res[info['variant']][str(info['seed'])].items()}, flush=True)
        path.write_text(json.dumps(res, indent=1))
    return res


def stripes(data: str, out: Path) -> dict:
    """How striped each sample grid is: the spectral energy of its images at the highest vertical frequency (rows of
    alternating sign) and at the highest horizontal one, each over the mean energy of the non-zero frequencies along
    that axis, averaged over the images. Real held-out images (ten of each class) pass through the same grid as the
    reference. Horizontal stripes read as a rows value well above the columns value and above the real images'."""
    import tempfile, numpy as np, torch
    from PIL import Image
    from mimflow.fid import to_unit
    size, k = base_config(PROFILES[data], False, {}).img_size, base_config(PROFILES[data], False, {}).img_size + 2
    def cells(path):                                                       # save_grid: a 1-px frame per image, 3x upscaled
        a = np.asarray(Image.open(path), dtype=float)[::3, ::3] / 255
        return np.stack([a[r*k+1:r*k+1+size, c*k+1:c*k+1+size] for r in range(a.shape[0] // k) for c in range(a.shape[1] // k)])
    def nyquist(x, axis):
        f = (np.abs(np.fft.fft(x - x.mean((1, 2), keepdims=True), axis=axis)) ** 2).sum(3 - axis)
        return float((f[:, size // 2] / f[:, 1:].mean(1)).mean())
    _, _, xv, yv, _ = data_and_classifier(data)
    with tempfile.TemporaryDirectory() as d:
        save_grid(torch.cat([to_unit(xv[yv == c][:10]) for c in range(10)]), 10, Path(d)/'real.png')
        grids = {'real held-out': cells(Path(d)/'real.png')}
    grids.update({p.stem.removeprefix('samples_'): cells(p) for p in sorted(out.glob('samples_*_s[0-9].png'))})
    res = {name: dict(rows=round(nyquist(x, 1), 4), columns=round(nyquist(x, 2), 4)) for name, x in grids.items()}
    (out/'stripes.json').write_text(json.dumps(res, indent=1))
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
        for k in (*METRICS, 'domain_classifier_acc'):
            vals = [r['metrics'][k] for r in runs if r['metrics'].get(k) is not None]
            if vals: d[k] = dict(mean=statistics.mean(vals), std=statistics.stdev(vals) if len(vals) > 1 else 0.,
                                 min=min(vals), max=max(vals), values=vals)
        summary[v] = d
    (out/'summary.json').write_text(json.dumps(summary, indent=1))
    return summary

def grids_at_size(out: Path, variants, seed: int, path: Path, titles: dict, per_line: int = 3):
    "The sample grids of `variants` (seed `seed`) pasted side by side at the size they were drawn (`per_line` to a line), each under its title."
    from PIL import Image, ImageDraw, ImageFont
    vs = [v for v in variants if (out/f'samples_{v}_s{seed}.png').exists()]
    if not vs: return
    ims, gap, head = [Image.open(out/f'samples_{v}_s{seed}.png').convert('L') for v in vs], 30, 34
    w, h = max(i.width for i in ims), max(i.height for i in ims) + head          # the grids of one data set share their size
    cols = min(per_line, len(ims)); lines = -(-len(ims) // cols)
    canvas = Image.new('L', (cols * w + gap * (cols - 1), lines * h + gap * (lines - 1)), 255)
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=22)
    for k, (v, im) in enumerate(zip(vs, ims)):
        x, y = (k % cols) * (w + gap), (k // cols) * (h + gap)
        canvas.paste(im, (x, y + head)); draw.text((x, y + 4), f'{titles[v]} (seed {seed})', fill=0, font=font)
    canvas.save(path, optimize=True)

def draw_grids(data: str, out: Path, seed: int = 0):
    "Every side-by-side figure of the profile's `grids` (file name: variants)."
    for name, variants in PROFILES[data]['grids'].items(): grids_at_size(out, variants, seed, out/name, PROFILES[data]['titles'])

def orchestrate(data: str, jobs: list[tuple], n_jobs: int, needs: dict, commit: bool = False, on_done=None):
    "Run the (variant, seed, out folder, extra args) jobs as worker subprocesses, `n_jobs` at a time, each after the runs it needs."
    running, t0 = [], time.time()
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    todo = [j for j in jobs if not (j[2]/f'{j[0]}_s{j[1]}.json').exists()]
    print(f'{len(todo)} trainings to run, {n_jobs} at a time', flush=True)
    while todo or running:
        while todo and len(running) < n_jobs:
            ready = [j for j in todo if all((j[2]/f'{d}_s{j[1]}.json').exists() for d in needs.get(j[0], ()))]
            if not ready:
                if running: break
                raise SystemExit(f'cannot run {todo}: they need {[needs[j[0]] for j in todo]} for the same seeds')
            job = ready[0]; todo.remove(job)
            v, s, out, extra = job
            log = open(out/f'{v}_s{s}.log', 'w')
            cmd = [sys.executable, str(Path(__file__).resolve()), '--data', data, '--worker', v, str(s), '--out', str(out), *extra]
            running.append((job, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(2)
        for r in list(running):
            (v, s, out, _), proc, log = r
            if proc.poll() is None: continue
            running.remove(r); log.close()
            ok = proc.returncode == 0 and (out/f'{v}_s{s}.json').exists()
            print(f'[{time.time() - t0:6.0f}s] {v} seed {s} ({out.name}): ' + ('done' if ok else f'FAILED (rc {proc.returncode}, see {out}/{v}_s{s}.log)'), flush=True)
            if ok and on_done: on_done()
            if ok and commit: commit_result(out/f'{v}_s{s}.json', f'{data} comparison: {v} seed {s} ({out.name})')   # the folder names a sweep's setting
    return time.time() - t0

def commit_result(path: Path, message: str):
    "Commit one finished run's result file (JSON and sample grid, the summary and the README table made from it), so that a session that ends keeps it."
    files = [str(p) for p in (path, path.with_name(f'samples_{path.stem}.png'), path.with_name('summary.json'), ROOT.parent/'README.md') if p.exists()]
    r = subprocess.run(['git', 'add', *files], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0: subprocess.run(['git', 'commit', '-q', '-m', message, '--', *files], cwd=ROOT, capture_output=True, text=True)

SWEEP = [(p, s) for p in (4, 8) for s in (0.1, 0.2, 0.3)]

def sweep_pixel(data: str, out: Path, n_jobs: int, quick: bool, commit: bool, budget_s: float) -> dict:
    """The pixel TarFlow at each patch size and noise level of SWEEP (seed 0, `budget_s` training seconds each), each in a
    folder of its own; the best by FID-domain is recorded in pixel_sweep.json and is the comparison's pixel TarFlow."""
    subs = {}
    for patch, sg in SWEEP:
        sub = out/f'pixel_sweep_p{patch}_s{sg}'; sub.mkdir(exist_ok=True)
        if (out/'calibration.json').exists() and not (sub/'calibration.json').exists(): shutil.copy(out/'calibration.json', sub/'calibration.json')
        subs[patch, sg] = sub
    orchestrate(data, [('pixel_tarflow', 0, sub, (['--quick'] if quick else []) + ['--sigma-pix', str(sg), '--pix-patch', str(p), '--budget', str(budget_s)])
                       for (p, sg), sub in subs.items()], n_jobs, {}, commit)
    res = {f'p{p}_s{sg}': json.loads((sub/'pixel_tarflow_s0.json').read_text())['metrics'] for (p, sg), sub in subs.items()
           if (sub/'pixel_tarflow_s0.json').exists()}
    best = min(res, key=lambda k: res[k]['fid_domain'])
    p, sg = next((p, sg) for (p, sg) in subs if f'p{p}_s{sg}' == best)
    summary = dict(best=dict(patch=p, sigma_pix=sg), budget_s=round(budget_s, 1),
                   by_setting={k: {m: v[m] for m in ('fid_domain', 'fid_detail', 'class_acc')} for k, v in res.items()})
    (out/'pixel_sweep.json').write_text(json.dumps(summary, indent=1))
    if commit: commit_result(out/'pixel_sweep.json', f'{data} comparison: the pixel TarFlow sweep')
    return summary

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', choices=tuple(PROFILES), default='digits')
    p.add_argument('--quick', action='store_true', help='smoke test: tiny budgets, 1 seed, small evaluation, into /tmp')
    p.add_argument('--out', type=Path, default=None, help='output folder (default: experiments/results[_fashion])')
    p.add_argument('--seeds', type=int, nargs='+', default=None, help='seeds (default 0 1 2; 0 with --quick)')
    p.add_argument('--variants', nargs='+', default=None)
    p.add_argument('--ablation-seeds', type=int, nargs='+', default=None, help='seeds of the ablations (default: --seeds), where time is short')
    p.add_argument('--jobs', type=int, default=2, help='trainings in parallel (each uses one thread)')
    p.add_argument('--set', action='append', default=[], help='a setting key=value for the preset (pilot runs)')
    p.add_argument('--budget', type=float, default=None, help='training seconds per run (instead of the profile\'s)')
    p.add_argument('--sigma-pix', type=float, default=None, help='noise std on [-1,1] pixels for the pixel TarFlow (default: the sweep\'s best)')
    p.add_argument('--pix-patch', type=int, default=None, help='patch size of the pixel TarFlow (default: the sweep\'s best)')
    p.add_argument('--analyse', action='store_true', help='only analyse the saved models: the yardstick (once per domain classifier), the guidance sweep, the stripes, the grids')
    p.add_argument('--sweep-pixel', action='store_true', help="the pixel TarFlow at patch 4 and 8 x noise 0.1, 0.2, 0.3 (seed 0)")
    p.add_argument('--sweep-share', type=float, default=1/3, help="the sweep's training time per setting, as a share of the comparison's budget")
    p.add_argument('--calibrate', action='store_true', help="only measure every variant's seconds per step (calibration.json), one after another")
    p.add_argument('--commit', action='store_true', help='git-commit each finished run\'s result file as it lands')
    p.add_argument('--worker', nargs=2, metavar=('VARIANT', 'SEED'), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    prof = PROFILES[a.data] = {**PROFILES[a.data], **({'budget_s': a.budget} if a.budget else {})}
    out = a.out or (Path(f'/tmp/compare_{a.data}_quick') if a.quick else prof['out'])
    out.mkdir(parents=True, exist_ok=True)
    seeds = a.seeds or ([0] if a.quick else [0, 1, 2])
    sets = dict(s.split('=', 1) for s in a.set)
    best = json.loads((out/'pixel_sweep.json').read_text())['best'] if (out/'pixel_sweep.json').exists() else {}
    sigma_pix = a.sigma_pix or best.get('sigma_pix') or prof['sigma_pix']
    pix_patch = a.pix_patch or best.get('patch') or prof['pix_patch']
    extra = (['--quick'] if a.quick else []) + [f'--set={s}' for s in a.set] + ['--sigma-pix', str(sigma_pix), '--pix-patch', str(pix_patch)] \
            + (['--budget', str(a.budget)] if a.budget else [])
    if a.worker:
        info = run_one(a.data, a.worker[0], int(a.worker[1]), out, a.quick, sets, sigma_pix, pix_patch)
        print(json.dumps(dict(variant=info['variant'], seed=info['seed'], train_time_s=info['train_time_s'], **info['metrics'])))
        return
    import torch; torch.set_num_threads(max(1, a.jobs))
    clf = data_and_classifier(a.data, a.quick)[-1]
    print(f'domain classifier: valid acc {clf.valid_acc:.4f} (sha256 {clf.digest})', flush=True)
    if a.analyse:
        old = json.loads((out/'yardstick.json').read_text()) if (out/'yardstick.json').exists() else {}
        print(json.dumps(old if old.get('classifier_sha256') == clf.digest else yardstick(a.data, out), indent=1))   # once per classifier
        guidance_sweep(a.data, out); print(json.dumps(stripes(a.data, out)))
        draw_grids(a.data, out, seeds[0])
        return
    if a.calibrate:                                                     # in a quiet moment, before the runs: all variants alike
        torch.set_num_threads(1)
        from mimflow.data import get_dls
        cfg = base_config(prof, a.quick, sets); dls = get_dls(cfg)
        for v in a.variants or prof['variants']:
            for key, make in makers(v, cfg, sigma_pix, pix_patch).items(): calibrated(out, key, make, dls, a.quick)
        for patch, sg in (SWEEP if a.data == 'fashion' else ()):
            for key, make in makers('pixel_tarflow', cfg, sg, patch).items(): calibrated(out, key, make, dls, a.quick)
        print((out/'calibration.json').read_text()); return
    if a.sweep_pixel:
        from mimflow.data import get_dls
        cfg = base_config(prof, a.quick, sets)
        share = a.sweep_share * budget_seconds(prof, cfg, out, get_dls(cfg), a.quick)
        print(json.dumps(sweep_pixel(a.data, out, a.jobs, a.quick, a.commit, share), indent=1)); return
    variants = a.variants or prof['variants']
    core = [v for v in variants if v in prof.get('core', variants)]
    jobs = [(v, s, out, extra) for s in seeds for v in core]            # seed-major: a cut-short run still compares all variants
    jobs += [(v, s, out, extra) for s in (a.ablation_seeds or seeds) for v in variants if v not in core]   # then the ablations
    def on_done():                                                      # the summary and the README's table, after every run
        summarise(a.data, out, seeds)
        subprocess.run([sys.executable, str(ROOT/'report.py'), '--readme'], capture_output=True)
    wall = orchestrate(a.data, jobs, a.jobs, prof['needs'], a.commit, on_done)
    summarise(a.data, out, seeds); draw_grids(a.data, out, seeds[0])
    info_path = out/'run_info.json'
    prev = json.loads(info_path.read_text()) if info_path.exists() else {}
    info_path.write_text(json.dumps(dict(prev, **{f'wall_s_{time.strftime("%Y%m%d-%H%M%S")}': round(wall, 1)}, cpus=os.cpu_count(),
        jobs=a.jobs, torch=torch.__version__, python=platform.python_version(), seeds=seeds, sigma_pix=sigma_pix, pix_patch=pix_patch,
        quick=a.quick), indent=1))

if __name__ == '__main__': main()
