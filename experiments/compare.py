#!/usr/bin/env python
"""The paper's comparison in miniature: MIMFlow against a pixel-space TarFlow, a two-stage pipeline and MIMFlow without
masking, on the bundled 16x16 digits, at an equal parameter budget and an equal number of training steps; and the
pixel-space TarFlow once more, trained for as long as MIMFlow took (equal wall time).

    .venv/bin/python experiments/compare.py            # full run: 5 variants x 3 seeds, 2 trainings in parallel
    .venv/bin/python experiments/compare.py --quick    # smoke test: a few steps, 1 seed, into /tmp/compare_quick
    .venv/bin/python experiments/compare.py --analyse  # decoder floor, raw-pixel probe, guidance sweep of the saved weights

Each (variant, seed) writes one JSON (and a sample grid PNG) into the output folder; finished ones are skipped, so an
interrupted run resumes. `summary.json` holds the mean and spread over seeds; `samples_side_by_side.png` the grids.
"""
from __future__ import annotations
import argparse, io, json, os, subprocess, sys, time, warnings
from pathlib import Path

VARIANTS = ('mimflow', 'pixel_tarflow', 'two_stage', 'no_mask', 'pixel_tarflow_wall')
TITLES = dict(mimflow='MIMFlow (joint, masked)', pixel_tarflow='pixel TarFlow', two_stage='two-stage (AE, then flow)',
              no_mask='MIMFlow, no masking', pixel_tarflow_wall='pixel TarFlow, same wall time')
NEEDS = dict(pixel_tarflow_wall=('mimflow', 'pixel_tarflow'))   # runs that must be finished first (same seed)
METRICS = ('fid_domain', 'class_acc', 'probe_top1', 'latent_bpd', 'recon_psnr')
SIGMA_PIX = 0.2      # TarFlow-style Gaussian noise on [-1,1] pixels (see the notebook for the choice)
PIX_PATCH = 4        # 16x16x1 -> 16 tokens of 16 dims
ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT/'results'


# ------------------------------------------------------------------------------------------------ models and training
def _imports():
    import torch
    from torch import nn
    return torch, nn

def base_config(quick: bool, epochs: int|None = None):
    "The `tiny` preset as it is now (quick: 2 epochs; `epochs` overrides)."
    from mimflow.config import tiny, replace
    cfg = tiny()
    return replace(cfg, epochs=epochs or (2 if quick else cfg.epochs))

def make_pixel_flow_class():
    torch, nn = _imports()
    from mimflow.flow import TransformerFlow, nll_loss, nll_to_bpd, denoise
    from mimflow.model import drop_labels
    from mimflow.core import patchify, unpatchify

    class PixelTarFlow(nn.Module):
        "TarFlow on image patches: the same `TransformerFlow`, Gaussian noise augmentation, Tweedie denoising after sampling."
        def __init__(self, cfg, channels: int, head_dim: int, sigma_pix: float = SIGMA_PIX, patch: int = PIX_PATCH):
            super().__init__()
            self.cfg, self.patch, self.sigma_pix = cfg, patch, sigma_pix
            self.flow = TransformerFlow(token_dim=patch * patch * cfg.in_chans, seq_len=(cfg.img_size // patch) ** 2,
                                        channels=channels, layers_per_block=cfg.flow_layers_per_block, head_dim=head_dim,
                                        num_classes=cfg.num_classes, mlp_ratio=cfg.flow_mlp_ratio)

        def tokens(self, x, noise: bool = True):                       # (B,C,H,W) in [-1,1] -> (B,P,p*p*C)
            t = patchify(x, self.patch)
            return t + self.sigma_pix * torch.randn_like(t) if noise else t

        def forward(self, x, y=None):
            "NLL of the noisy pixels (noise also at validation: the flow models the noisy data)."
            y = drop_labels(y, self.cfg.label_drop) if self.training else y
            nll = nll_loss(*self.flow(self.tokens(x), y))
            return dict(loss=nll, nll=nll, bpd=nll_to_bpd(nll.detach()))

        @torch.no_grad()
        def sample(self, labels, cfg=None, generator=None, **kw):
            "Images (B,C,H,W) in [0,1]: flow inverse with the preset's guidance settings, then one Tweedie step (lr 1)."
            c = self.cfg
            was = self.training; self.eval()
            y = torch.as_tensor(labels)
            t = self.flow.sample(y, generator=generator, cfg=c.cfg if cfg is None else cfg, annealed=c.annealed,
                                 interval=c.guidance_interval, temperature=c.temperature)
            t = denoise(self.flow, t, y, sigma=self.sigma_pix, lr=1.)
            self.train(was)
            return ((unpatchify(t, self.patch, c.in_chans) + 1) / 2).clamp(0, 1)

        @torch.no_grad()
        def features(self, x):                                         # (B,D): deep block, last layer, clean input, no class
            return self.flow.features(self.tokens(x, noise=False), None, block=-1, layer=-1)

    return PixelTarFlow

def pixel_flow_width(cfg, target: int) -> tuple[int, int, int]:
    "(channels, head_dim, params) of the pixel flow whose trainable count is closest to `target`."
    PixelTarFlow = make_pixel_flow_class()
    from mimflow.core import count_params
    best = None
    for hd in dict.fromkeys((cfg.flow_head_dim, 16)):
        for ch in range(hd, 1024 + 1, hd):
            n = count_params(PixelTarFlow(cfg, ch, hd), trainable=True)
            if best is None or abs(n - target) < abs(best[2] - target): best = (ch, hd, n)
            if n > 1.5 * target: break
        if abs(best[2] - target) / target < 0.05: break
    return best

def make_flow_only_class():
    torch, nn = _imports()
    from mimflow.flow import nll_loss, nll_to_bpd
    from mimflow.model import drop_labels

    class FlowOnStage1Latents(nn.Module):
        "Two-stage, stage 2: the flow of `model` trained alone on the frozen autoencoder's noisy latents."
        def __init__(self, model):
            super().__init__()
            self.model, self.cfg = model, model.cfg
            model.autoencoder.requires_grad_(False)

        def forward(self, x, y=None):
            ae = self.model.autoencoder
            with torch.no_grad():                                      # masked in train mode, as in joint training (§7.11)
                lt = ae.add_noise(ae.encode_with_mask(x)[0])
            y = drop_labels(y, self.cfg.label_drop) if self.training else y
            nll = nll_loss(*self.model.flow(lt, y))
            return dict(loss=nll, nll=nll, bpd=nll_to_bpd(nll.detach()))

    return FlowOnStage1Latents

def train(model, dls, epochs: int):
    "Train with mimflow_learner (AdamW, clip, EMA, the preset's schedule); return the learner."
    from mimflow.learner import mimflow_learner, fit_mimflow
    learn = mimflow_learner(model, dls, epochs=epochs, progress=False)
    with learn.no_logging(): fit_mimflow(learn)
    return learn

def pixel_metrics(model, x_train, y_train, x_valid, y_valid, clf_dir, n_per_class: int, probe_epochs: int, seed: int):
    "evaluate()'s metrics for the pixel flow: FID-domain, class accuracy, probe on flow features, noisy-pixel bpd."
    torch, _ = _imports()
    from mimflow.fid import domain_classifier
    from mimflow.fid import compute_fid, class_accuracy, to_unit
    from mimflow.probe import extract_features, linear_probe
    from mimflow.flow import nll_to_bpd
    torch.manual_seed(seed)
    model.eval()
    with torch.no_grad():
        nll = sum(float(model(x_valid[i:i + 256], y_valid[i:i + 256])['nll']) * len(x_valid[i:i + 256])
                  for i in range(0, len(x_valid), 256)) / len(x_valid)
    out = dict(latent_bpd=nll_to_bpd(nll), recon_psnr=None)
    clf = domain_classifier(to_unit(x_train), y_train, to_unit(x_valid), y_valid, Path(clf_dir)/'domain_classifier.pt', seed=0)
    out['domain_classifier_acc'] = clf.valid_acc
    labels = torch.arange(model.cfg.num_classes).repeat_interleave(n_per_class)
    g = torch.Generator().manual_seed(seed)
    t = time.time()
    samples = torch.cat([model.sample(l, generator=g) for l in labels.split(500)])
    out['samples_per_s'] = len(samples) / (time.time() - t)
    out['fid_domain'] = compute_fid(to_unit(x_train), samples, clf.feature_net())
    out['class_acc'] = class_accuracy(clf, samples, labels)
    f_tr, _ = extract_features(model.features, x_train); f_va, _ = extract_features(model.features, x_valid)
    out['probe_top1'] = linear_probe(f_tr, y_train, f_va, y_valid, epochs=probe_epochs, seed=seed)['top1']
    return out, samples

def save_grid(samples, labels_per_class: int, path, per_row: int = 10):
    "First `per_row` samples of each class (samples ordered by class, `labels_per_class` each) as one PNG, 3x upscaled."
    torch, _ = _imports()
    from PIL import Image
    n_cls = len(samples) // labels_per_class
    rows = samples.view(n_cls, labels_per_class, *samples.shape[1:])[:, :per_row]        # (10, per_row, 1, H, W)
    rows = torch.nn.functional.pad(rows, (1, 1, 1, 1), value=1.)
    grid = rows.permute(0, 3, 1, 4, 2).reshape(n_cls * rows.shape[3], per_row * rows.shape[4])  # channel 0 only
    img = (grid.clamp(0, 1) * 255).round().byte().numpy()
    Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3), Image.NEAREST).save(path)

def run_one(variant: str, seed: int, out: Path, quick: bool, epochs: int|None = None, sigma_pix: float = SIGMA_PIX) -> dict:
    "Train and evaluate one (variant, seed); write VARIANT_sSEED.json and samples_VARIANT_sSEED.png."
    torch, _ = _imports()
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    from mimflow.config import replace, config_to_dict
    from mimflow.core import seed_everything, count_params
    from mimflow.data import get_dls, digits_tensors
    from mimflow.model import MIMFlow
    from mimflow.evaluate import evaluate
    cfg = base_config(quick, epochs)
    n_per_class, probe_epochs = (20, 3) if quick else (100, 30)
    seed_everything(seed)
    dls = get_dls(cfg)
    steps_per_epoch, total_steps = len(dls.train), cfg.epochs * len(dls.train)
    mimflow_params = count_params(MIMFlow(cfg), trainable=True)
    seed_everything(seed)
    t0 = time.time()
    info = dict(variant=variant, seed=seed, quick=quick, preset=cfg.name, epochs=cfg.epochs, steps=total_steps,
                mimflow_trainable_params=mimflow_params)
    if variant in ('mimflow', 'no_mask'):
        c = cfg if variant == 'mimflow' else replace(cfg, mask_ratio_min=0., mask_ratio_max=0.)
        learn = train(MIMFlow(c), dls, c.epochs)
        model, info['trainable_params'], last = learn.ema_model.module, mimflow_params, learn
        info['steps_done'] = learn.global_step
    elif variant == 'two_stage':
        e1 = cfg.epochs // 2; e2 = cfg.epochs - e1
        m = MIMFlow(replace(cfg, w_nll=0.))
        m.flow.requires_grad_(False)                                      # stage 1: autoencoder only (the flow stays at init)
        l1 = train(m, dls, e1)
        m.load_state_dict(l1.ema_model.module.state_dict())               # stage 1's result is its EMA
        m.cfg = cfg; m.flow.requires_grad_(True)
        wrapper = make_flow_only_class()(m)                               # freezes the autoencoder
        info['stage2_trainable_params'] = count_params(wrapper, trainable=True)
        l2 = train(wrapper, dls, e2)
        model, info['trainable_params'], last = l2.ema_model.module.model, mimflow_params, l2
        info['steps_done'] = l1.global_step + l2.global_step
        info['stage_steps'] = [l1.global_step, l2.global_step]
    elif variant in ('pixel_tarflow', 'pixel_tarflow_wall'):
        ch, hd, n = pixel_flow_width(cfg, mimflow_params)
        epochs = cfg.epochs
        if variant == 'pixel_tarflow_wall':                # as many epochs as fit in MIMFlow's training time, at the
            t = {v: json.loads((out/f'{v}_s{seed}.json').read_text())['train_time_s'] for v in NEEDS[variant]}
            epochs = max(1, round(cfg.epochs * t['mimflow'] / t['pixel_tarflow']))  # pixel flow's measured speed
            info.update(wall_ratio=round(t['mimflow'] / t['pixel_tarflow'], 3), epochs=epochs, steps=epochs * steps_per_epoch)
        PixelTarFlow = make_pixel_flow_class()
        seed_everything(seed)
        learn = train(PixelTarFlow(cfg, ch, hd, sigma_pix), dls, epochs)
        model, last = learn.ema_model.module, learn
        info.update(trainable_params=n, pixel_channels=ch, pixel_head_dim=hd, sigma_pix=sigma_pix, patch=PIX_PATCH,
                    steps_done=learn.global_step)
    else: raise ValueError(f'unknown variant {variant!r}; choose from {VARIANTS}')
    info['train_time_s'] = round(time.time() - t0, 1)
    info['final_train_terms'] = train_terms_tail(last)
    data = (*digits_tensors(cfg.img_size, 'train'), *digits_tensors(cfg.img_size, 'valid'))
    t1 = time.time()
    model.eval()
    if variant.startswith('pixel'): met, samples = pixel_metrics(model, *data, out, n_per_class, probe_epochs, seed)
    else: met, samples = evaluate(model, *data, run_dir=out, n_per_class=n_per_class, probe_epochs=probe_epochs, seed=seed)
    info['eval_time_s'] = round(time.time() - t1, 1)
    info['metrics'] = {k: (None if v is None else float(v)) for k, v in met.items()}
    info['config'] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config_to_dict(cfg).items()}
    save_grid(samples, n_per_class, out/f'samples_{variant}_s{seed}.png')
    torch.save(dict(state=model.state_dict(), info={k: v for k, v in info.items() if k != 'metrics'}),
               out/f'{variant}_s{seed}.pt')                                  # EMA weights for later analysis (git-ignored)
    (out/f'{variant}_s{seed}.json').write_text(json.dumps(info, indent=1))
    return info

def train_terms_tail(learn, n: int = 50) -> dict:
    "Mean of each recorded training term over the last `n` steps of `learn`."
    tr = learn.terms.train[-n:]
    return {k: sum(r[k] for r in tr) / len(tr) for k in tr[-1] if k != 'step'}


def digits_and_classifier(out: Path):
    "The digits' train and held-out splits in [-1,1] and the shared domain classifier of `out` (trained once, then loaded)."
    from mimflow.data import digits_tensors
    from mimflow.fid import domain_classifier, to_unit
    xt, yt = digits_tensors(16, 'train'); xv, yv = digits_tensors(16, 'valid')
    return xt, yt, xv, yv, domain_classifier(to_unit(xt), yt, to_unit(xv), yv, out/'domain_classifier.pt', seed=0)

def decoder_floor(out: Path) -> dict:
    """FID-domain of MIMFlow reconstructions decode(encode(x) + sigma*eps) of 1,000 training images, per saved model:
    the FID a perfect flow would get through this decoder. Also the held-out real images' FID, for scale."""
    torch, _ = _imports()
    torch.set_num_threads(2)
    from mimflow.fid import compute_fid, to_unit
    xt, yt, xv, yv, clf = digits_and_classifier(out)
    res = dict(real_heldout_297=compute_fid(to_unit(xt), to_unit(xv), clf.feature_net()))
    for f in sorted(out.glob('*_s[0-9].pt')):
        m, info = load_saved(out, f.stem)
        if info['variant'].startswith('pixel'): continue
        torch.manual_seed(0)
        with torch.no_grad():
            ae = m.autoencoder
            rec = torch.cat([ae.decode(ae.add_noise(ae.encode(xt[i:i + 250]))) for i in range(0, 1000, 250)])
        res[f.stem] = compute_fid(to_unit(xt), to_unit(rec), clf.feature_net())
    from mimflow.probe import linear_probe                               # reference: the same probe on raw pixels
    res['raw_pixel_probe_top1'] = [linear_probe(xt.flatten(1), yt, xv.flatten(1), yv, epochs=30, seed=s)['top1'] for s in range(3)]
    (out/'decoder_floor.json').write_text(json.dumps(res, indent=1))
    return res

def load_saved(out: Path, stem: str):
    "The EMA model saved as `stem`.pt (with its `stem`.json), in eval mode."
    torch, _ = _imports()
    from mimflow.config import config_from_dict
    from mimflow.model import MIMFlow
    info = json.loads((out/f'{stem}.json').read_text())
    cfg = config_from_dict(info['config'])
    if info['variant'].startswith('pixel'):
        m = make_pixel_flow_class()(cfg, info['pixel_channels'], info['pixel_head_dim'], info['sigma_pix'], info['patch'])
    else: m = MIMFlow(cfg)                 # masking acts only in train mode, so the base config serves every MIMFlow variant
    m.load_state_dict(torch.load(out/f'{stem}.pt', map_location='cpu', weights_only=False)['state'])
    return m.eval(), info

GUIDANCE = (0., 0.25, 0.5, 0.75, 1., 1.5)

def guidance_sweep(out: Path, weights=GUIDANCE, n_per_class: int = 100) -> dict:
    """FID-domain and class accuracy of every saved model at each guidance weight (1 = the conditional flow alone,
    0 = the null class in the guided blocks, below 1 = towards it), the same noise seed per model: each variant can
    then be compared at its own best weight, not only at the preset's."""
    torch, _ = _imports()
    from mimflow.fid import compute_fid, class_accuracy, to_unit
    xt, _, _, _, clf = digits_and_classifier(out)
    fn = clf.feature_net()
    labels = torch.arange(10).repeat_interleave(n_per_class)
    res = {}
    for f in sorted(out.glob('*_s[0-9].pt')):
        m, info = load_saved(out, f.stem)
        for w in weights:
            g = torch.Generator().manual_seed(info['seed'])
            s = torch.cat([m.sample(l, cfg=w, generator=g) for l in labels.split(500)])
            res.setdefault(info['variant'], {}).setdefault(str(info['seed']), {})[str(w)] = \
                dict(fid_domain=compute_fid(to_unit(xt), s, fn), class_acc=class_accuracy(clf, s, labels))
        print(f.stem, {w: round(d['fid_domain'], 3) for w, d in res[info['variant']][str(info['seed'])].items()}, flush=True)
    (out/'guidance_sweep.json').write_text(json.dumps(res, indent=1))
    return res


# ------------------------------------------------------------------------------------------------ orchestration
def summarise(out: Path, seeds) -> dict:
    "Mean, std, min and max over seeds of every metric, per variant; also a markdown table."
    import statistics
    rows, summary = [], {}
    for v in VARIANTS:
        runs = [json.loads((out/f'{v}_s{s}.json').read_text()) for s in seeds if (out/f'{v}_s{s}.json').exists()]
        if not runs: continue
        d = dict(n_seeds=len(runs), seeds=[r['seed'] for r in runs], trainable_params=runs[0]['trainable_params'],
                 steps=runs[0]['steps_done'], train_time_s=statistics.mean(r['train_time_s'] for r in runs))
        for k in (*METRICS, 'domain_classifier_acc', 'samples_per_s'):
            vals = [r['metrics'][k] for r in runs if r['metrics'].get(k) is not None]
            if vals: d[k] = dict(mean=statistics.mean(vals), std=statistics.stdev(vals) if len(vals) > 1 else 0.,
                                 min=min(vals), max=max(vals), values=vals)
        summary[v] = d
    (out/'summary.json').write_text(json.dumps(summary, indent=1))
    fmt = lambda d, k, f: f"{d[k]['mean']:{f}} ± {d[k]['std']:{f}}" if k in d else 'n/a'
    lines = ['| variant | params | steps | FID-domain ↓ | class acc ↑ | probe top-1 ↑ | bpd | recon PSNR (dB) |', '|' + '---|' * 8]
    for v, d in summary.items():
        bpd = fmt(d, 'latent_bpd', '.3f') + (' (pixels, not comparable)' if v.startswith('pixel') else '')
        lines.append(f"| {TITLES[v]} | {d['trainable_params']:,} | {d['steps']} | {fmt(d, 'fid_domain', '.1f')} | "
                     f"{fmt(d, 'class_acc', '.3f')} | {fmt(d, 'probe_top1', '.3f')} | {bpd} | {fmt(d, 'recon_psnr', '.2f')} |")
    (out/'summary.md').write_text('\n'.join(lines) + '\n')
    return summary

def side_by_side(out: Path, seed: int = 0):
    "The seed-`seed` sample grids of every variant next to each other, titled."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from PIL import Image
    vs = [v for v in VARIANTS if (out/f'samples_{v}_s{seed}.png').exists()]
    if not vs: return
    fig, axs = plt.subplots(1, len(vs), figsize=(3.2 * len(vs), 3.6), squeeze=False)
    for a, v in zip(axs[0], vs):
        a.imshow(Image.open(out/f'samples_{v}_s{seed}.png'), cmap='gray', vmin=0, vmax=255); a.axis('off'); a.set_title(TITLES[v], fontsize=9)
    fig.suptitle(f'conditional samples, one row per class (seed {seed})'); fig.tight_layout()
    buf = io.BytesIO(); fig.savefig(buf, dpi=110); plt.close(fig)
    Image.open(buf).convert('L').save(out/'samples_side_by_side.png', optimize=True)  # grayscale: half the bytes

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='smoke test: 2 epochs, 1 seed, small evaluation')
    p.add_argument('--out', type=Path, default=None, help=f'output folder (default {DEFAULT_OUT}; /tmp/compare_quick with --quick)')
    p.add_argument('--seeds', type=int, nargs='+', default=None, help='seeds (default 0 1 2; 0 with --quick)')
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    p.add_argument('--jobs', type=int, default=2, help='trainings in parallel (each uses one thread)')
    p.add_argument('--epochs', type=int, default=None, help="override the preset's epochs (debugging only)")
    p.add_argument('--sigma-pix', type=float, default=SIGMA_PIX, help='noise std on [-1,1] pixels for the pixel TarFlow')
    p.add_argument('--analyse', action='store_true', help='only analyse the saved models: decoder floor (decoder_floor.json) and guidance sweep (guidance_sweep.json)')
    p.add_argument('--worker', nargs=2, metavar=('VARIANT', 'SEED'), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    out = a.out or (Path('/tmp/compare_quick') if a.quick else DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    seeds = a.seeds or ([0] if a.quick else [0, 1, 2])
    if a.analyse:
        print(json.dumps(decoder_floor(out), indent=1)); guidance_sweep(out); return
    if a.worker:
        info = run_one(a.worker[0], int(a.worker[1]), out, a.quick, a.epochs, a.sigma_pix)
        print(json.dumps(dict(variant=info['variant'], seed=info['seed'], train_time_s=info['train_time_s'], **info['metrics'])))
        return
    # the shared domain classifier, trained once before the workers start (they would race for it)
    import torch; torch.set_num_threads(max(1, a.jobs))
    clf = digits_and_classifier(out)[-1]
    print(f'domain classifier: valid acc {clf.valid_acc:.3f}', flush=True)
    # seed-major order: every variant gets seed 0 first, so a cut-short run still compares all variants
    todo = [(v, s) for s in seeds for v in a.variants if not (out/f'{v}_s{s}.json').exists()]
    print(f'{len(todo)} trainings to run, {a.jobs} at a time, into {out}', flush=True)
    running, t0 = [], time.time()
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    while todo or running:
        while todo and len(running) < a.jobs:
            ready = [j for j in todo if all((out/f'{d}_s{j[1]}.json').exists() for d in NEEDS.get(j[0], ()))]
            if not ready:
                if running: break                                       # wait for the runs it needs
                raise SystemExit(f'cannot run {todo}: they need {[NEEDS[v] for v, _ in todo]} for the same seeds')
            v, s = ready[0]; todo.remove((v, s))
            log = open(out/f'{v}_s{s}.log', 'w')
            cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', v, str(s), '--out', str(out)] + (['--quick'] if a.quick else []) \
                  + (['--epochs', str(a.epochs)] if a.epochs else []) + ['--sigma-pix', str(a.sigma_pix)]
            running.append((v, s, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(2)
        for r in list(running):
            v, s, proc, log = r
            if proc.poll() is None: continue
            running.remove(r); log.close()
            ok = proc.returncode == 0 and (out/f'{v}_s{s}.json').exists()
            print(f'[{time.time() - t0:6.0f}s] {v} seed {s}: ' + ('done' if ok else f'FAILED (rc {proc.returncode}, see {out}/{v}_s{s}.log)'), flush=True)
    summarise(out, seeds); side_by_side(out, seeds[0])
    info_path = out/'run_info.json'
    prev = json.loads(info_path.read_text()) if info_path.exists() else {}
    import platform
    (info_path).write_text(json.dumps(dict(prev, **{f'wall_s_{time.strftime("%Y%m%d-%H%M%S")}': round(time.time() - t0, 1)},
        cpus=os.cpu_count(), jobs=a.jobs, torch=torch.__version__, python=platform.python_version(), seeds=seeds,
        sigma_pix=a.sigma_pix, quick=a.quick), indent=1))
    print((out/'summary.md').read_text())

if __name__ == '__main__': main()
