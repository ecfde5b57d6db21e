"""Sampling speed of the flow's inverse against one forward pass of the same batch: the default (the sequential solver,
compiled where `auto_compile` says), the sequential solver eager and compiled, and the Jacobi solver; exactness is
checked against the forward pass (the eager sequential inverse must undo it) and between the solvers.

    python bench/sampling.py [--threads 2] [--batch 32] [--seq 16 64 128] [--rounds 9]

Flow: 8-dim tokens, width 128, head 32, layers [1,1,1,3], 10 classes, output projections randomised with
`randomize_(scale=0.1)` (a well-conditioned flow, as a trained one). Guidance 2 uses the model defaults: annealed,
interval 0.25. The machine is shared, so every timed call runs once per round, the rounds interleaved, and each
time is the minimum over the rounds: load that comes and goes hits all of them alike, and the ratios come from one
run. Two ratios for guided sampling: against the forward of the batch (B rows), and against the forward of the 2B
rows the guided sampler runs ([conditional | unconditional]).
Writes bench/results/sampling.json.
"""
import argparse, sys, time
from pathlib import Path
import torch, torch._dynamo
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, write_json
from mimflow.config import SamplingConfig
from mimflow.flow import TransformerFlow
from mimflow.flow_layers import randomize_, auto_compile

GUIDED = dict(guidance=2., annealed=True, interval=0.25)
S = lambda **kw: SamplingConfig(**{'guidance': 0., 'interval': 0., **kw})

def interleaved_min(fns: dict, rounds: int) -> dict:
    "Minimum wall time of each function over `rounds` interleaved rounds (one warm-up call each first)."
    for fn in fns.values(): fn()
    ts = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter(); fn(); ts[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in ts.items()}

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--seq', type=int, nargs='+', default=[16, 64, 128])
    p.add_argument('--rounds', type=int, default=9)
    p.add_argument('--tol', type=float, default=1e-5)
    a = p.parse_args()
    torch.set_num_threads(a.threads); torch.set_grad_enabled(False); torch.manual_seed(0)
    rows, B = [], a.batch
    print(f'batch {B}, fp32, {a.threads} threads, min over {a.rounds} interleaved rounds; F = one forward pass')
    for N in a.seq:
        torch._dynamo.reset()               # each N measured as a process sampling one model would see it: only its own graphs cached
        f = randomize_(TransformerFlow(8, N, 128, [1, 1, 1, 3], 32, num_classes=10), scale=0.1, seed=0).eval()
        z, y = torch.randn(B, N, 8), torch.randint(0, 10, (B,))
        zz, yy = z.repeat(2, 1, 1), y.repeat(2)
        t = interleaved_min({'forward': lambda: f(z, y), 'forward_2B': lambda: f(zz, yy),
                             'default': lambda: f.reverse(z, y), 'default_guided': lambda: f.reverse(z, y, S(**GUIDED)),
                             'cached': lambda: f.reverse(z, y, S(compile=False)), 'cached_guided': lambda: f.reverse(z, y, S(compile=False, **GUIDED)),
                             'compiled': lambda: f.reverse(z, y, S(compile=True)), 'compiled_guided': lambda: f.reverse(z, y, S(compile=True, **GUIDED)),
                             'jacobi': lambda: f.reverse(z, y, S(solver='jacobi', tol=a.tol)),
                             'jacobi_guided': lambda: f.reverse(z, y, S(solver='jacobi', tol=a.tol, **GUIDED))}, a.rounds)
        r = dict(N=N, batch=B, **{f'{k}_s': v for k, v in t.items()})
        r['err_cached_vs_forward'] = (f.reverse(f(z, y)[0], y, S(compile=False)) - z).abs().max().item()   # the inverse undoes the forward
        for g, kw in (('', {}), ('_guided', GUIDED)):
            ref = f.reverse(z, y, S(compile=False, **kw))
            r[f'err_compiled{g}'] = (f.reverse(z, y, S(compile=True, **kw)) - ref).abs().max().item()
            xj, st = f.reverse(z, y, S(solver='jacobi', tol=a.tol, **kw), return_stats=True)
            r[f'err_jacobi{g}'] = (xj - ref).abs().max().item()
            r[f'jacobi_iters{g}'] = [sum(i) for i in st['iters']]
        assert r['err_cached_vs_forward'] < 1e-4 and max(r[k] for k in r if k.startswith('err_')) < 1e-4, {k: r[k] for k in r if k.startswith('err_')}
        assert all(i <= N - 1 for i in r['jacobi_iters']), 'a Jacobi block ran past its bound'
        F, F2 = t['forward'], t['forward_2B']
        r.update(default_compiles=auto_compile(B, N), default_over_F=t['default'] / F, default_guided_over_F=t['default_guided'] / F,
                 default_guided_over_F2B=t['default_guided'] / F2, cached_over_F=t['cached'] / F, cached_guided_over_F=t['cached_guided'] / F,
                 cached_guided_over_F2B=t['cached_guided'] / F2, compiled_over_F=t['compiled'] / F,
                 compiled_guided_over_F=t['compiled_guided'] / F, compiled_guided_over_F2B=t['compiled_guided'] / F2, jacobi_over_F=t['jacobi'] / F, jacobi_guided_over_F2B=t['jacobi_guided'] / F2)
        rows.append(r)
        print(f"N={N:4d} | F {F*1e3:6.1f} ms, F(2B) {F2*1e3:6.1f} ms | default ({'compiled' if r['default_compiles'] else 'eager'}) "
              f"{r['default_over_F']:.2f} F, guided {r['default_guided_over_F']:.2f} F = {r['default_guided_over_F2B']:.2f} F(2B) | eager {r['cached_over_F']:.2f} F, guided {r['cached_guided_over_F']:.2f} F "
              f"= {r['cached_guided_over_F2B']:.2f} F(2B) | compiled {r['compiled_over_F']:.2f} F, guided {r['compiled_guided_over_F']:.2f} F "
              f"= {r['compiled_guided_over_F2B']:.2f} F(2B) | jacobi {r['jacobi_over_F']:.2f} F, guided {r['jacobi_guided_over_F2B']:.2f} F(2B) "
              f"(iterations per block {r['jacobi_iters']}) | max err: eager inverse vs forward {r['err_cached_vs_forward']:.1e}, compiled vs eager "
              f"{r['err_compiled']:.1e} / {r['err_compiled_guided']:.1e}, jacobi vs eager {r['err_jacobi']:.1e} / {r['err_jacobi_guided']:.1e}")
    write_json('sampling.json', dict(machine=machine_info(), args=vars(a), guided=GUIDED,
        flow=dict(token_dim=8, channels=128, head_dim=32, layers_per_block=[1, 1, 1, 3], num_classes=10), rows=rows,
        notes='times in seconds (minimum over interleaved rounds); F = forward of the batch, F(2B) = forward of the 2B rows guidance runs'))

if __name__ == '__main__': main()
