"""How training-step and sampling time and peak memory grow with the number of latent tokens N, the image size and
the batch size (tiny preset widths, CPU), with the fitted log-log growth exponents.

    python bench/scaling.py [--threads 1] [--steps 3]

Each configuration runs in a fresh subprocess. Peak memory on the CPU is the rise of the process's resident-set
high-water mark (Linux VmHWM, reset through /proc/self/clear_refs just before the measured call) above the resident
set before it: the first training step (activations, gradients and AdamW state), and one sampling call. On CUDA,
torch.cuda.max_memory_allocated is used instead. Writes bench/results/scaling.json and scaling.png.
"""
import argparse, json, re, statistics, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))

BASE = dict(img=16, N=8, bs=32)
SWEEPS = dict(N=[8, 16, 32, 64, 128], img=[16, 32, 48, 64], bs=[8, 16, 32, 64, 128])

def mem_kb():
    s = open('/proc/self/status').read()
    return {k: int(re.search(k + r':\s+(\d+)', s).group(1)) for k in ('VmRSS', 'VmHWM')}

def peak_mib(fn, device):
    "Run fn(); return the peak memory it added, MiB."
    import torch
    if device == 'cuda':
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); m0 = torch.cuda.memory_allocated()
        fn(); torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - m0) / 2**20
    r0 = mem_kb()['VmRSS']
    open('/proc/self/clear_refs', 'w').write('5')              # reset the high-water mark to the current RSS
    fn()
    return (mem_kb()['VmHWM'] - r0) / 1024

def worker(c: dict, steps: int, threads: int) -> dict:
    import torch
    from mimflow.config import tiny
    from mimflow.model import MIMFlow
    torch.set_num_threads(threads); torch.manual_seed(0)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = tiny(img_size=c['img'], num_latent_tokens=c['N'], optim__batch_size=c['bs'])
    model = MIMFlow(cfg).to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.wd)
    x = torch.rand(c['bs'], 1, c['img'], c['img'], device=dev) * 2 - 1; y = torch.randint(0, 10, (c['bs'],), device=dev)
    ns = min(c['bs'], 16)                                          # sampling batch
    def sample():
        model.sample(ns, guidance=1.)
        if dev == 'cuda': torch.cuda.synchronize()
    def step():
        loss = model(x, y)['loss']; opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip); opt.step()
        if dev == 'cuda': torch.cuda.synchronize()
    out = dict(c)
    out['sample_mem_mib'] = peak_mib(sample, dev)
    ts = []
    for _ in range(2): t = time.perf_counter(); sample(); ts.append(time.perf_counter() - t)
    out['sample_s_per_image'] = min(ts) / ns
    out['train_mem_mib'] = peak_mib(step, dev)                     # first step: also allocates grads + AdamW state
    ts = []
    for _ in range(steps): t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    out['train_step_s'] = statistics.median(ts)
    out['train_s_per_image'] = out['train_step_s'] / c['bs']
    return out

def slope(xs, ys):
    import numpy as np
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--worker', type=str, default=None)              # internal: one configuration as JSON
    p.add_argument('--replot', action='store_true')                 # refit and replot the saved results, measure nothing
    a = p.parse_args()
    if a.worker: print('RESULT ' + json.dumps(worker(json.loads(a.worker), a.steps, a.threads))); return
    from _common import machine_info, write_json, RESULTS
    rows = json.loads((RESULTS/'scaling.json').read_text())['rows'] if a.replot else []
    for key, vals in ({} if a.replot else SWEEPS).items():
        for v in vals:
            c = {**BASE, key: v, 'sweep': key}
            r = subprocess.run([sys.executable, __file__, '--worker', json.dumps(c), '--steps', str(a.steps), '--threads', str(a.threads)],
                               capture_output=True, text=True)
            line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
            if line is None: raise RuntimeError(f'worker failed for {c}:\n{r.stderr[-2000:]}')
            rows.append(json.loads(line[7:]))
            q = rows[-1]
            print(f"{key}={v:4d}: train {q['train_step_s']*1e3:8.1f} ms/step, {q['train_mem_mib']:7.1f} MiB | "
                  f"sample {q['sample_s_per_image']*1e3:7.2f} ms/image, {q['sample_mem_mib']:6.1f} MiB", flush=True)
    fits, fits_tail = {}, {}                                       # whole range, and the 3 largest sizes (asymptotic)
    for key in SWEEPS:
        rs = [r for r in rows if r['sweep'] == key]
        xs = [r[key] ** 2 if key == 'img' else r[key] for r in rs]    # image size as pixel count
        for m in ('train_step_s', 'train_mem_mib', 'sample_s_per_image', 'sample_mem_mib'):
            ys = [max(r[m], 1e-3) for r in rs]
            k = f'{m} vs {"pixels" if key == "img" else key}'
            fits[k], fits_tail[k] = slope(xs, ys), slope(xs[-3:], ys[-3:])
    for k in fits: print(f'growth exponent {k}: {fits[k]:.2f} (3 largest: {fits_tail[k]:.2f})')
    for m in ('train_step_s', 'train_mem_mib'):
        for key in SWEEPS:
            v = [r[m] for r in rows if r['sweep'] == key]
            assert all(b > a for a, b in zip(v, v[1:])), f'{m} does not grow along the {key} sweep: {v}'
    import torch
    torch.set_num_threads(a.threads)
    write_json('scaling.json', dict(machine=machine_info(), args=vars(a), base=BASE, sweeps=SWEEPS, rows=rows, fits=fits, fits_tail=fits_tail,
               notes='tiny preset widths; random images; sampling = MIMFlow.sample(min(bs,16), guidance=1) (flow inverse + decoder), so the batch sweep of sampling saturates at 16; fits_tail: slope over the 3 largest sizes'))
    plot(rows, fits)

def plot(rows, fits):
    import matplotlib, matplotlib.ticker; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(2, 3, figsize=(13, 7))
    for j, key in enumerate(SWEEPS):
        rs = [r for r in rows if r['sweep'] == key]
        xl = 'pixels' if key == 'img' else key
        xs = [r[key] ** 2 if key == 'img' else r[key] for r in rs]
        for i, (m1, m2, unit) in enumerate((('train_step_s', 'sample_s_per_image', 's'), ('train_mem_mib', 'sample_mem_mib', 'MiB'))):
            ax = axs[i, j]
            for m, lab in ((m1, 'train step' if i == 0 else 'train step (peak)'), (m2, 'sampling, per image' if i == 0 else 'sampling call (peak)')):
                ax.loglog(xs, [max(r[m], 1e-3) for r in rs], 'o-', label=f'{lab}: slope {fits[f"{m} vs {xl}"]:.2f}')
            ax.set_xlabel({'N': 'latent tokens N', 'img': 'image pixels (16² .. 64²)', 'bs': 'batch size'}[key])
            ax.set_ylabel('time (s)' if i == 0 else 'peak memory (MiB)'); ax.legend(fontsize=7); ax.grid(alpha=.3, which='both')
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.suptitle('MIMFlow tiny widths, CPU 1 thread: growth with N, image size and batch (log-log)')
    plt.tight_layout()
    from _common import RESULTS
    fig.savefig(RESULTS/'scaling.png', dpi=110); print(f'wrote {RESULTS/"scaling.png"}')

if __name__ == '__main__': main()
