#!/usr/bin/env python
"""Tuning the `small` preset (Fashion-MNIST) by measurement: one run per setting, each scored the same way.

    python experiments/tune_small.py NAME --set mask.max=0.3 --set loss.rec=400 ...   # one setting, into runs/tune/NAME
    python experiments/tune_small.py --report                                        # the table of every finished run

A run is what `mimflow train --preset small` does with those settings (phase 1, then phase 2 when `phase2.steps` is
given), in a run folder of its own, on one CPU thread; then, for the phase-1 and the phase-2 model alike:
- the decoder floor: FID-domain (and FID-detail) of the decoder's reconstructions of 1,000 held-out images, and their PSNR;
- samples (100 per class) at several guidance weights: FID-domain, FID-detail and class accuracy;
all against the same reference (a stratified 10,000 of the training split) in the feature space of the shipped
Fashion-MNIST domain classifier. The result is NAME.json in `experiments/results_tune/` (commit it); the run folder
(checkpoints) stays outside the repository.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT/'results_tune'
GUIDANCE = (0., 0.5, 1., 1.5, 2., 3.)

def train(run: Path, sets: list[str], seed: int, phase: int):
    "`mimflow train` of phase 1 or 2 into `run` (skipped when its checkpoint exists), one thread, no evaluation."
    ck = run/('checkpoint.pt' if phase == 1 else 'checkpoint_phase2.pt')
    if ck.exists(): return
    cmd = [str(Path(sys.executable).parent/'mimflow'), 'train', '--preset', 'small', '--out', str(run), '--threads', '1', '--no-eval', '--seed', str(seed)]
    cmd += ['--phase', '2', *(f'--set={s}' for s in sets if s.startswith('phase2.'))] if phase == 2 else [f'--set={s}' for s in sets]
    with open(run.parent/f'{run.name}.phase{phase}.log', 'w') as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'OMP_NUM_THREADS': '1'})

def score(model, xt, xv, clf, n_per_class: int = 100, seed: int = 0) -> dict:
    "Decoder floor and PSNR on held-out images; FID-domain, FID-detail and class accuracy of samples at each guidance weight."
    import torch
    from mimflow.fid import FIDScorer, to_unit
    from mimflow.classifier import predict
    from mimflow.model import sample_batches
    from mimflow.evaluate import decoder_metrics
    fid, fid_d = (FIDScorer(n).update(to_unit(xt), real=True) for n in (clf.feature_net(), clf.detail_net()))
    out = dict(**decoder_metrics(model, xt, xv, clf, 10 * n_per_class, seed, (fid, fid_d)), guidance={})
    labels = torch.arange(10).repeat_interleave(n_per_class)
    for w in GUIDANCE:
        fid.reset_fake(); fid_d.reset_fake(); correct = 0
        for s, y, _ in sample_batches(model, labels, 500, seed=seed, sampling=model.sampling_config(guidance=w)):
            fid.update(s, real=False); fid_d.update(s, real=False); correct += (predict(clf, s) == y).sum().item()
        out['guidance'][str(w)] = dict(fid_domain=fid.compute(), fid_detail=fid_d.compute(), class_acc=correct / len(labels))
    return out

def evaluate_run(name: str, run: Path, sets: list[str], seed: int) -> dict:
    import torch
    torch.set_num_threads(1)
    from mimflow.runs import load_run, eval_data
    from mimflow.classifier import classifier_for
    res = dict(name=name, sets=sets, seed=seed)
    for phase, ck in ((1, 'checkpoint.pt'), (2, 'checkpoint_phase2.pt')):
        if not (run/ck).exists(): continue
        model, c = load_run(run, 'cpu', checkpoint=ck)
        if phase == 1:
            xt, _, xv, _ = eval_data(model.cfg, 10000)
            clf = classifier_for(model.cfg)
            res.update(classifier_sha256=clf.digest, params=sum(p.numel() for p in model.parameters()))
        res[f'phase{phase}'] = dict(steps=c['step'], train_time_s=round(c.get('train_time_s', 0.), 1), **score(model, xt, xv, clf, seed=seed))
        print(name, f'phase {phase}', json.dumps({k: v for k, v in res[f'phase{phase}'].items() if k != 'guidance'}), flush=True)
    return res

def report():
    rows = [json.loads(p.read_text()) for p in sorted(OUT.glob('*.json'))]
    print('| run | phase | steps | train s | floor FID | PSNR | ' + ' | '.join(f'w={w:g} FID / acc' for w in GUIDANCE) + ' |')
    for r in rows:
        for ph in ('phase1', 'phase2'):
            if ph not in r: continue
            d = r[ph]
            print(f"| {r['name']} | {ph[-1]} | {d['steps']} | {d['train_time_s']:.0f} | {d['recon_fid']:.2f} | {d['recon_psnr']:.2f} | " +
                  ' | '.join(f"{d['guidance'][str(w)]['fid_domain']:.2f} / {d['guidance'][str(w)]['class_acc']:.3f}" for w in GUIDANCE) + ' |')

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('name', nargs='?'); p.add_argument('--set', action='append', default=[])
    p.add_argument('--seed', type=int, default=0); p.add_argument('--runs', type=Path, default=Path('runs/tune'))
    p.add_argument('--report', action='store_true')
    a = p.parse_args()
    if a.report: return report()
    run = a.runs/a.name; run.mkdir(parents=True, exist_ok=True); OUT.mkdir(exist_ok=True)
    t = time.time()
    train(run, a.set, a.seed, 1)
    if any(s.startswith('phase2.steps=') for s in a.set): train(run, a.set, a.seed, 2)
    res = evaluate_run(a.name, run, a.set, a.seed)
    res['wall_s'] = round(time.time() - t)
    (OUT/f'{a.name}.json').write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
