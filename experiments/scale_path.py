#!/usr/bin/env python
"""The reproduction path at scale, tried on the CPU with real photographs: Fashion-MNIST written out as an image folder
in ImageNet's layout (class folders, sorted), a `mimflow_l`-shaped model shrunk through `--set` (the same layer
structure: ViT encoder and decoder of 12 blocks, a flow of 8 blocks with the deep-shallow layout [2]*7 + [20], the
paper's masking, 10 classes), trained for a few hundred steps by two processes (torchrun, gloo), resumed, evaluated
with every class represented, and sampled 1,000 images to an .npz in ADM's format with the peak memory measured.

    python experiments/scale_path.py            # about 12 minutes on 2 cores; writes experiments/results_scale/
    python experiments/scale_path.py --quick    # a smoke test of the same path in a few minutes, into /tmp

Every command is the `mimflow` command a user runs; this script only strings them together and records what each
took and printed.
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIMFLOW = str(Path(sys.executable).parent/'mimflow')
SHRINK = {'img_size': 32, 'in_chans': 1, 'patch_size': 4, 'num_latent_tokens': 16, 'latent_dim': 8,          # 32 px photos, 64 patches
          'encoder.dim': 64, 'encoder.heads': 4, 'decoder.dim': 64, 'decoder.heads': 4,        # 12 blocks each, as ViT-B
          'flow.channels': 64, 'flow.head_dim': 16, 'aux.dim': 32, 'aux.heads': 2, 'aux.repa_hidden': 64,
          'num_classes': 10, 'aux.teachers': 'cnn', 'loss.perc': 0., 'optim.lr': 3e-4, 'optim.batch_size': 64,
          'optim.ema_decay': 0.999, 'sampling.batch_size': 100, 'data.workers': 0}

def sh(cmd: list, log: Path, env=None) -> dict:
    "Run `cmd`, append its output to `log`; return its exit code, wall time and peak resident memory of its process tree."
    t = time.time()
    with open(log, 'a') as f:
        f.write(f'\n$ {" ".join(map(str, cmd))}\n'); f.flush()
        r = subprocess.run([sys.executable, '-c', 'import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; '
                            'print("peak_kib", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)',
                            *map(str, cmd)], stdout=f, stderr=subprocess.PIPE, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})})
        f.write(r.stderr)
    peak = [int(l.split()[1]) for l in r.stderr.splitlines() if l.startswith('peak_kib')]
    res = dict(rc=r.returncode, wall_s=round(time.time() - t, 1), peak_mib=round(peak[-1] / 1024) if peak else None)
    if r.returncode: raise SystemExit(f'failed ({res}): {" ".join(map(str, cmd))}; see {log}')
    return res

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true')
    p.add_argument('--out', type=Path, default=None)
    a = p.parse_args(argv)
    out = a.out or (Path('/tmp/scale_path_quick') if a.quick else ROOT/'results_scale')
    out.mkdir(parents=True, exist_ok=True)
    work = Path('/tmp/mimflow_scale_path') / ('quick' if a.quick else 'full'); work.mkdir(parents=True, exist_ok=True)
    log = out/'commands.log'; log.write_text('')
    per_class, steps = (60, 20) if a.quick else (600, 300)
    data, run = work/'fashion_folder', work/'run'
    res = dict(per_class=per_class, steps=steps, settings=SHRINK)
    if not (data/'train').is_dir():
        res['export'] = sh([MIMFLOW, 'export', data, '--per-class', per_class, '--img-size', 32], log)
    if run.exists(): subprocess.run(['rm', '-rf', str(run)])
    sets = [x for k, v in SHRINK.items() for x in ('--set', f'{k}={v}')]
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29611', '--']
    train = [*torchrun, MIMFLOW, 'train', '--preset', 'mimflow_l', '--data', data, *sets, '--set', f'optim.steps={steps}', '--out', run, '--no-eval']
    # interrupted: killed (SIGKILL, both processes) once the first epoch's checkpoint is on disk
    with open(log, 'a') as f:
        f.write(f'\n$ {" ".join(map(str, train))}   # killed after the first checkpoint\n'); f.flush()
        t, proc = time.time(), subprocess.Popen(list(map(str, train)), stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                                env={**os.environ, 'OMP_NUM_THREADS': '1'})
        while not (run/'checkpoint.pt').exists() and proc.poll() is None: time.sleep(1)
        if proc.poll() is not None: raise SystemExit(f'training stopped (exit {proc.returncode}) before its first checkpoint; see {log}')
        import psutil                                  # torchrun's workers run in sessions of their own: kill the whole tree
        top = psutil.Process(proc.pid); tree = [top, *top.children(recursive=True)]
        for p in tree:
            try: p.kill()
            except psutil.NoSuchProcess: pass
        proc.wait(); psutil.wait_procs(tree)
    import torch
    ck = torch.load(run/'checkpoint.pt', weights_only=False)
    res['interrupted'] = dict(after_s=round(time.time() - t, 1), checkpoint_step=ck['step'], checkpoint_epoch=ck['epoch'])
    res['resumed'] = sh([*torchrun, MIMFLOW, 'train', '--out', run, '--resume', '--no-eval'], log)
    res['eval'] = sh([MIMFLOW, 'eval', run, '--per-class', 20 if a.quick else 100, '--items', 2000], log)
    res['sample_npz'] = sh([*torchrun, MIMFLOW, 'sample', run, '--n', 1000, '--npz', work/'samples.npz', '--batch-size', 100], log)
    import numpy as np
    z = np.load(work/'samples.npz')
    res['npz'] = dict(arr_0=list(z['arr_0'].shape), dtype=str(z['arr_0'].dtype), labels_per_class=np.bincount(z['arr_1']).tolist())
    ck = torch.load(run/'checkpoint.pt', weights_only=False)
    m = json.loads((run/'metrics.json').read_text())
    res.update(final_step=ck['step'], train_time_s=ck['train_time_s'], metrics={k: m[k] for k in
               ('fid_domain', 'class_acc', 'probe_top1', 'latent_bpd', 'recon_psnr', 'domain_classifier_acc', 'processes') if k in m},
               loss_first=ck['losses']['train'][0]['loss'], loss_last=ck['losses']['train'][-1]['loss'])
    (out/'scale_path.json').write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))

if __name__ == '__main__': main()
