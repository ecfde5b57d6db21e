"""MIMFlow-L on one CUDA GPU, in one run that fits a 10-minute call: the training step (bf16 autocast, fused AdamW,
gradient clipping, EMA) at two batch sizes with its time, images/s, peak memory and model-FLOPs utilisation; then
sampling with guidance (cfg 2): the KV-cached sequential solver eager and compiled (compile time apart) and the
Jacobi solver (with its iterations), as samples/s. Every timer is closed by `torch.cuda.synchronize()`.

    python bench/gpu.py                       # CUDA: mimflow_l at batches 32 and 128, then sampling
    python bench/gpu.py --batches 32 --no-compile
    python bench/gpu.py --cpu-smoke           # the same code path on the micro preset on the CPU (tests the script)

Without CUDA and without --cpu-smoke it prints a note and exits with code 0. The aux teachers of the paper (DINOv2,
SigLIP) and LPIPS need local weights; without them the run uses the small frozen 'cnn' teacher and the perceptual
network's architecture with random weights (`PerceptualLoss('random')`, the cost of the learned stand-in; LPIPS-VGG
costs more), and says so. FLOPs are counted with torch.utils.flop_counter on one training step (forward + backward:
matmuls, convolutions, attention); MFU = FLOPs / step time / the device's dense bf16 peak (H100/H200 SXM: 989
TFLOP/s; the NVL/PCIe parts are lower: pass --peak-tflops). The sampling flow gets random output projections
(`randomize_(scale=0.1)`): an untrained flow is the identity, which Jacobi would invert in one iteration; a trained
flow's count can differ. Writes bench/results/gpu.json (gpu_cpu_smoke.json for the smoke run).
"""
import argparse, json, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, write_json

PEAK_BF16_TFLOPS = {'H200': 989., 'H100': 989., 'GH200': 989., 'A100': 312., 'L40S': 362., 'L4': 121., 'A10': 125.,
                    'RTX 4090': 165., 'RTX 3090': 71.}        # dense bf16 tensor-core peaks (SXM parts for H100/H200/A100)

def peak_flops(name, override):
    if override: return override * 1e12, f'--peak-tflops {override:g}'
    k = next((k for k in PEAK_BF16_TFLOPS if name and k in name), None)
    return (PEAK_BF16_TFLOPS[k] * 1e12, f'{k} SXM dense bf16, {PEAK_BF16_TFLOPS[k]:g} TFLOP/s') if k else (None, None)

def timed(fn, dev, reps: int) -> list[float]:
    "Seconds of each of `reps` calls of fn(), each closed by a device synchronize."
    out = []
    for _ in range(reps):
        if dev == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter(); fn()
        if dev == 'cuda': torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return out

def train_rows(cfg, dev, batches, steps, peak):
    "Step time, images/s, TFLOP/s, MFU and peak memory of the training step at each batch size."
    from mimflow.model import MIMFlow
    from mimflow.losses import PerceptualLoss
    from torch.utils.flop_counter import FlopCounterMode
    torch.manual_seed(0)
    with torch.device(dev): model = MIMFlow(cfg, PerceptualLoss('random', in_chans=cfg.in_chans) if cfg.loss.perc else None)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.wd, fused=dev == 'cuda')
    ema = [q.detach().clone() for q in params]
    rows = []
    for B in batches:
        x = torch.rand(B, cfg.in_chans, cfg.img_size, cfg.img_size, device=dev) * 2 - 1
        y = torch.randint(0, cfg.num_classes, (B,), device=dev)
        def step():
            with torch.autocast(dev, dtype=torch.bfloat16): loss = model(x, y)['loss']
            opt.zero_grad(set_to_none=True); loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip); opt.step()
            with torch.no_grad(): torch._foreach_lerp_(ema, [q.detach() for q in params], 1 - cfg.optim.ema_decay)
        try:
            fc = FlopCounterMode(display=False)
            with fc:
                with torch.autocast(dev, dtype=torch.bfloat16): model(x, y)['loss'].backward()
            opt.zero_grad(set_to_none=True)
            timed(step, dev, 2)                                      # warm-up
            if dev == 'cuda': torch.cuda.reset_peak_memory_stats()
            ts = sorted(timed(step, dev, steps)); st = ts[len(ts) // 2]
        except torch.OutOfMemoryError:
            rows.append(dict(batch=B, oom=True)); print(f'batch {B}: out of memory', flush=True)
            opt.zero_grad(set_to_none=True); torch.cuda.empty_cache(); continue
        f = fc.get_total_flops()
        r = dict(batch=B, step_s=st, step_min_s=ts[0], images_per_s=B / st, flops_per_step=f, tflops=f / st / 1e12,
                 mfu=None if peak is None else f / st / peak,
                 peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if dev == 'cuda' else None)
        rows.append(r)
        print(f"train batch {B}: {st*1e3:.1f} ms/step, {B/st:.1f} images/s, {f/1e12:.2f} TFLOP/step -> {f/st/1e12:.1f} TFLOP/s"
              + (f", MFU {100 * r['mfu']:.1f}%" if peak else '') + (f", peak memory {r['peak_mem_gib']:.1f} GiB" if dev == 'cuda' else ''), flush=True)
    del opt, ema
    return model, rows

def sample_rows(model, dev, n, guidance, solvers=('cached', 'jacobi')):
    "Samples/s of the flow inverse (+ decoder) for each solver, with guidance; compile time apart; Jacobi's iterations."
    from mimflow.config import SamplingConfig
    from mimflow.flow_layers import randomize_
    cfg, out = model.cfg, {}
    model.eval(); randomize_(model.flow, scale=0.1, seed=0)
    ys = torch.arange(n, device=dev) % cfg.num_classes
    z = torch.randn(n, cfg.num_latent_tokens, cfg.latent_dim, device=dev, generator=torch.Generator(dev).manual_seed(0))
    base = dict(guidance=guidance, annealed=cfg.sampling.annealed, interval=cfg.sampling.interval)
    solvers = {k: v for k, v in dict(cached=SamplingConfig(**base, compile=False), cached_compiled=SamplingConfig(**base, compile=True),
               jacobi=SamplingConfig(**base, solver='jacobi', tol=1e-3, compile=False)).items() if k in solvers}
    ref = None
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
        for name, s in solvers.items():
            first = timed(lambda: model.flow.reverse(z, ys, s), dev, 1)[0]         # includes compiling, for the compiled one
            tf = min(timed(lambda: model.flow.reverse(z, ys, s), dev, 2))
            l, st = model.flow.reverse(z, ys, s, return_stats=True)
            td = min(timed(lambda: model.autoencoder.decode(l), dev, 2))
            r = dict(first_call_s=first, flow_s=tf, decoder_s=td, samples_per_s=n / (tf + td), passes=st['passes'],
                     iterations_per_block=[sum(i) for i in st['iters']])
            if ref is None: ref = l.float()
            else: r['max_abs_diff_vs_cached'] = (l.float() - ref).abs().max().item()
            out[name] = r
            print(f"sampling {n} with guidance {guidance:g} ({name}): first call {first:.2f} s, then flow {tf:.3f} s + decoder {td:.3f} s "
                  f"-> {r['samples_per_s']:.1f} samples/s; one-token/group passes {st['passes']}, per block {r['iterations_per_block']}", flush=True)
    if 'jacobi' in out and 'cached' in out: out['jacobi_speedup_vs_cached'] = out['cached']['flow_s'] / out['jacobi']['flow_s']
    return out

def compiled_in_child(a, budget_s: float) -> dict:
    "The compiled sampler in a child process, killed after `budget_s`: compiling 8 blocks can take minutes, and the run must end in time."
    import subprocess
    cmd = [sys.executable, __file__, '--compiled-only', '--sample-batch', str(a.sample_batch), '--cfg', str(a.cfg)] + ['--cpu-smoke'] * a.cpu_smoke
    try: r = subprocess.run(cmd, capture_output=True, text=True, timeout=budget_s)
    except subprocess.TimeoutExpired: return dict(skipped=f'compiling and timing did not finish within {budget_s:.0f} s')
    line = next((l for l in r.stdout.splitlines() if l.startswith('{')), None)
    print(r.stdout.strip().splitlines()[0] if r.stdout.strip() else r.stderr[-500:], flush=True)
    return json.loads(line)['cached_compiled'] if line and r.returncode == 0 else dict(failed=r.stderr[-500:])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batches', type=int, nargs='+', default=[32, 128])
    p.add_argument('--steps', type=int, default=8)              # timed training steps per batch (after 2 warm-up steps)
    p.add_argument('--sample-batch', type=int, default=128)
    p.add_argument('--cfg', type=float, default=2.)
    p.add_argument('--no-compile', action='store_true')
    p.add_argument('--cpu-smoke', action='store_true')
    p.add_argument('--peak-tflops', type=float, default=None)
    p.add_argument('--teacher-paths', type=str, default=None)
    p.add_argument('--budget-s', type=float, default=540., help='the whole run ends within this (the compiled sampler is cut off)')
    p.add_argument('--compiled-only', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args()
    from mimflow.config import mimflow_l, micro
    if not torch.cuda.is_available() and not a.cpu_smoke:
        print('bench/gpu.py: no CUDA device here; nothing measured. Run it on a CUDA machine, or pass --cpu-smoke to '
              'check the script on the micro preset on the CPU.')
        return 0
    dev = 'cpu' if a.cpu_smoke else 'cuda'
    t0 = time.perf_counter()
    if a.cpu_smoke: torch.set_num_threads(1); cfg = micro(**{'loss.perc': 1.1})
    elif a.teacher_paths: cfg = mimflow_l(**{'aux.teacher_paths': json.loads(a.teacher_paths)})
    else: cfg = mimflow_l(**{'aux.teachers': ('cnn',)})
    if dev == 'cuda': torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    if a.compiled_only:                                             # the child of compiled_in_child
        from mimflow.model import MIMFlow
        with torch.device(dev): m = MIMFlow(cfg)
        print(json.dumps(sample_rows(m, dev, a.sample_batch, a.cfg, ('cached_compiled',)))); return 0
    peak, peak_name = peak_flops(machine_info()['gpu'], a.peak_tflops)
    res = dict(machine=machine_info(), args=vars(a), preset=cfg.name, aux_teachers=list(cfg.aux.teachers), perceptual='random weights',
               device=dev, amp='bf16 autocast', peak_used=peak_name)
    model, res['train'] = train_rows(cfg, dev, a.batches, a.steps, peak)
    res['trainable_params'] = sum(q.numel() for q in model.parameters() if q.requires_grad)
    if dev == 'cuda': torch.cuda.empty_cache()
    res['sample'] = sample_rows(model, dev, a.sample_batch, a.cfg)
    if not a.no_compile and not a.cpu_smoke:
        del model; torch.cuda.empty_cache()
        res['sample']['cached_compiled'] = compiled_in_child(a, a.budget_s - (time.perf_counter() - t0))
    res['total_s'] = time.perf_counter() - t0
    print(f"total {res['total_s']:.0f} s" + (f"; MFU against {peak_name}" if peak_name else ''))
    write_json('gpu_cpu_smoke.json' if a.cpu_smoke else 'gpu.json', res)
    return 0

if __name__ == '__main__': sys.exit(main())
