"""MIMFlow-L on one CUDA GPU: training-step time, images/s, peak memory and model-FLOPs utilisation at batch 32 (bf16
autocast, SDPA attention, optional torch.compile), and sampling throughput with guidance (cfg=2), sequential
KV-cached and GS-Jacobi parallel.

    python bench/gpu.py                       # CUDA: mimflow_l, batch 32 (about 2-4 minutes on an H100/H200)
    python bench/gpu.py --compile             # torch.compile the training forward (adds compile time)
    python bench/gpu.py --cpu-smoke           # the same code path on the micro preset on the CPU (tests the script)

Without CUDA and without --cpu-smoke it prints a note and exits with code 0. The aux teachers of the paper (DINOv2,
SigLIP) need local weights; by default the run uses the small frozen 'cnn' teacher instead (pass --teacher-paths
'{"dinov2": "...", "siglip": "..."}' to include them). FLOPs are counted with torch.utils.flop_counter on one
training step (forward + backward, matmuls/convolutions/attention); MFU = FLOPs / step time / peak bf16 FLOP/s of
the device (dense, from a table or --peak-tflops). Writes bench/results/gpu.json (gpu_cpu_smoke.json for the smoke run).
"""
import argparse, json, math, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, write_json

PEAK_BF16_TFLOPS = {'H200': 989., 'H100': 989., 'GH200': 989., 'A100': 312., 'L40S': 362., 'L4': 121., 'A10': 125.,
                    'RTX 4090': 165., 'RTX 3090': 71.}        # dense bf16 tensor-core peaks (SXM for H100/A100)

def peak_flops(name: str|None, override: float|None) -> float|None:
    if override: return override * 1e12
    return next((v * 1e12 for k, v in PEAK_BF16_TFLOPS.items() if name and k in name), None)

def sync(dev):
    if dev == 'cuda': torch.cuda.synchronize()

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=10)              # timed training steps (after 3 warm-up steps)
    p.add_argument('--sample-batch', type=int, default=32)
    p.add_argument('--cfg', type=float, default=2.)
    p.add_argument('--group-size', type=int, default=16)          # GS-Jacobi group for the parallel sampler
    p.add_argument('--compile', action='store_true')
    p.add_argument('--cpu-smoke', action='store_true')
    p.add_argument('--peak-tflops', type=float, default=None)
    p.add_argument('--teacher-paths', type=str, default=None)
    a = p.parse_args()
    from mimflow.config import mimflow_l, micro
    from mimflow.model import MIMFlow
    from mimflow.flow_layers import randomize_
    if not torch.cuda.is_available() and not a.cpu_smoke:
        print('bench/gpu.py: no CUDA device here; nothing measured. Run it on a CUDA machine, or pass --cpu-smoke to '
              'check the script on the micro preset on the CPU.')
        return 0
    dev = 'cpu' if a.cpu_smoke else 'cuda'
    if a.cpu_smoke: torch.set_num_threads(1)                      # a shared CPU: one thread
    t_start = time.perf_counter()
    if a.cpu_smoke: cfg = micro(optim__batch_size=a.batch)
    elif a.teacher_paths: cfg = mimflow_l(**{'aux.teacher_paths': json.loads(a.teacher_paths)})
    else: cfg = mimflow_l(**{'aux.teachers': ('cnn',)})
    if dev == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    with torch.device(dev): model = MIMFlow(cfg)                  # initialise on the device (fast for 0.7B parameters)
    model = model.to(dev)
    params = [q for q in model.parameters() if q.requires_grad]
    n_params = sum(q.numel() for q in params)
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.wd, fused=dev == 'cuda')
    ema = [q.detach().clone() for q in params]
    fwd = torch.compile(model) if a.compile else model
    B, H = a.batch, cfg.img_size
    x = torch.rand(B, cfg.in_chans, H, H, device=dev) * 2 - 1; y = torch.randint(0, cfg.num_classes, (B,), device=dev)
    res = dict(machine=machine_info(), args=vars(a), preset=cfg.name, aux_teachers=list(cfg.aux.teachers),
               trainable_params=n_params, device=dev, amp='bf16 autocast', sdpa=dict(
                   flash=torch.backends.cuda.flash_sdp_enabled(), mem_efficient=torch.backends.cuda.mem_efficient_sdp_enabled(),
                   cudnn=getattr(torch.backends.cuda, 'cudnn_sdp_enabled', lambda: None)()))
    out_name = 'gpu_cpu_smoke.json' if a.cpu_smoke else 'gpu.json'

    def step():
        with torch.autocast(dev, dtype=torch.bfloat16):
            loss = fwd(x, y)['loss']
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip); opt.step()
        with torch.no_grad(): torch._foreach_lerp_(ema, [q.detach() for q in params], 1 - cfg.optim.ema_decay)
        return loss

    # FLOPs of one training step (eager model, counted once)
    from torch.utils.flop_counter import FlopCounterMode
    fc = FlopCounterMode(display=False)
    with fc:
        with torch.autocast(dev, dtype=torch.bfloat16): loss = model(x, y)['loss']
        loss.backward()
    opt.zero_grad(set_to_none=True)
    flops = fc.get_total_flops()
    t0 = time.perf_counter()
    for _ in range(3): step()                                     # warm-up (and compilation with --compile)
    sync(dev); res['warmup_s'] = time.perf_counter() - t0
    if dev == 'cuda': torch.cuda.reset_peak_memory_stats()
    ts = []
    for _ in range(a.steps):
        t = time.perf_counter(); l = step(); sync(dev); ts.append(time.perf_counter() - t)
    ts.sort(); st = ts[len(ts) // 2]
    peak = peak_flops(res['machine']['gpu'], a.peak_tflops)
    res.update(train_step_s=st, train_step_min_s=ts[0], images_per_s=B / st, flops_per_step=flops,
               achieved_tflops=flops / st / 1e12, peak_tflops=None if peak is None else peak / 1e12,
               mfu=None if peak is None else flops / st / peak, final_loss=l.item(),
               peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if dev == 'cuda' else None)
    print(f"[{cfg.name}, {dev}] {n_params/1e6:.1f}M trainable params, batch {B}: {st*1e3:.1f} ms/step, {B/st:.1f} images/s, "
          f"{flops/1e9:.1f} GFLOP/step -> {flops/st/1e12:.1f} TFLOP/s" + (f", MFU {100*res['mfu']:.1f}%" if peak else ' (no peak known: pass --peak-tflops)')
          + (f", peak memory {res['peak_mem_gib']:.1f} GiB" if dev == 'cuda' else ''), flush=True)
    write_json(out_name, res)

    # sampling with guidance: sequential KV-cached inverse, and GS-Jacobi; the flow gets random output projections
    # (an untrained flow is the identity, which Jacobi would invert in one iteration)
    del opt, ema; model.zero_grad(set_to_none=True)
    if dev == 'cuda': torch.cuda.empty_cache()
    model.eval(); randomize_(model.flow, scale=0.1, seed=0)
    n, N, C = a.sample_batch, cfg.num_latent_tokens, cfg.latent_dim
    ys = torch.arange(n, device=dev) % cfg.num_classes
    z = torch.randn(n, N, C, device=dev)
    kw = dict(guidance=a.cfg, annealed=cfg.sampling.annealed, interval=cfg.sampling.interval)
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
        for name, fn in (('cached', lambda: model.flow.reverse(z, ys, **kw)),
                         (f'gs{a.group_size}', lambda: model.flow.reverse(z, ys, solver='jacobi', group_size=a.group_size, tol=1e-3, **kw)),
                         ('jacobi', lambda: model.flow.reverse(z, ys, solver='jacobi', tol=1e-3, **kw))):
            fn(); sync(dev)                                        # warm-up
            t = time.perf_counter(); l = fn(); sync(dev); tf = time.perf_counter() - t
            t = time.perf_counter(); model.autoencoder.decode(l); sync(dev); td = time.perf_counter() - t
            res[f'sample_{name}_flow_s'] = tf; res[f'sample_{name}_images_per_s'] = n / (tf + td)
            print(f'sampling guidance={a.cfg} ({name}): flow {tf:.3f} s + decoder {td:.3f} s for {n} images -> {n/(tf+td):.1f} images/s', flush=True)
        ref = model.flow.reverse(z, ys, **kw).float()
        xp, stats = model.flow.reverse(z, ys, solver='jacobi', group_size=a.group_size, tol=1e-3, return_stats=True, **kw)
        res['sample_parallel_iters'] = stats['iters']
        res['sample_parallel_max_abs_diff'] = (xp.float() - ref).abs().max().item()
    res['total_s'] = time.perf_counter() - t_start
    print(f"GS-Jacobi iterations per block {[sum(i) for i in stats['iters']]}, max |parallel - cached| {res['sample_parallel_max_abs_diff']:.2e} (bf16); "
          f"total {res['total_s']:.0f} s")
    write_json(out_name, res)
    return 0

if __name__ == '__main__': sys.exit(main())
