"""Sampling speed of the flow's inverses: naive, KV-cached (sequential) and parallel (Jacobi / GS-Jacobi), against one
forward pass of the same batch (the FLOP-equivalent lower bound), on a small CPU config.

    python bench/sampling.py [--threads 1] [--batch 8] [--seq 16 64 128] [--scale 0.1]

Flow: C=4 tokens dims, width 64, head 16, layers [1,1,1,2], 10 classes, output projections randomised with
`randomize_(scale)` (0.1: well-conditioned, as a trained flow; see 05a for how iterations grow with the coupling).
Writes bench/results/sampling.json.
"""
import argparse, sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, timeit, write_json
from mimflow.flow import TransformerFlow
from mimflow.flow_layers import randomize_
import mimflow.flow_parallel  # noqa: F401  (patches TransformerFlow.reverse_parallel)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=1)   # the machine is shared: 1 thread, reproducible
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--seq', type=int, nargs='+', default=[16, 64, 128])
    p.add_argument('--scale', type=float, default=0.1)
    p.add_argument('--groups', type=int, nargs='+', default=[8])
    p.add_argument('--tol', type=float, default=1e-5)
    a = p.parse_args()
    torch.set_num_threads(a.threads); torch.set_grad_enabled(False); torch.manual_seed(0)
    rows = []
    print(f'batch {a.batch}, fp32, {a.threads} thread(s); times in ms (median)')
    for N in a.seq:
        f = randomize_(TransformerFlow(4, N, 64, [1, 1, 1, 2], 16, num_classes=10), scale=a.scale, seed=0).eval()
        z, y = torch.randn(a.batch, N, 4), torch.randint(0, 10, (a.batch,))
        for cfg in (0., 2.):
            nb = 2 * a.batch if cfg else a.batch                      # guidance runs [cond | uncond] in one pass
            zz, yy = z.repeat(nb // a.batch, 1, 1), y.repeat(nb // a.batch)
            r = dict(N=N, cfg=cfg, batch=a.batch)
            r['forward'] = timeit(lambda: f(zz, yy))['median']         # one forward of the batch the sampler runs
            ref = f.reverse_naive(z, y, cfg=cfg)
            r['naive'] = timeit(lambda: f.reverse_naive(z, y, cfg=cfg), min_reps=2, budget_s=0.5)['median']
            r['cached'] = timeit(lambda: f.reverse(z, y, cfg=cfg))['median']
            r['err_cached'] = (f.reverse(z, y, cfg=cfg) - ref).abs().max().item()
            for G in [None, *a.groups]:
                key = 'jacobi' if G is None else f'gs{G}'
                x, st = f.reverse_parallel(z, y, cfg=cfg, group_size=G, tol=a.tol, return_stats=True)
                r[key] = timeit(lambda: f.reverse_parallel(z, y, cfg=cfg, group_size=G, tol=a.tol))['median']
                r[f'err_{key}'] = (x - ref).abs().max().item()
                r[f'iters_{key}'] = st['iters']; r[f'passes_{key}'] = st['token_passes']
            r['sequential_passes'] = st['sequential_passes']
            r['ref_absmax'] = ref.abs().max().item()
            rows.append(r)
            gs = ' '.join(f"gs{G} {r[f'gs{G}']*1e3:6.1f} ({r['naive']/r[f'gs{G}']:5.1f}x, {r[f'gs{G}']/r['forward']:5.1f}F)" for G in a.groups)
            print(f"N={N:4d} cfg={cfg:.0f} | fwd {r['forward']*1e3:6.2f} | naive {r['naive']*1e3:8.1f} ({r['naive']/r['forward']:6.1f}F) "
                  f"| cached {r['cached']*1e3:6.1f} ({r['naive']/r['cached']:5.1f}x, {r['cached']/r['forward']:5.1f}F) "
                  f"| jacobi {r['jacobi']*1e3:6.1f} ({r['naive']/r['jacobi']:5.1f}x, {r['jacobi']/r['forward']:5.1f}F) | {gs}")
            print(f"        jacobi iterations per block {[i[0] for i in r['iters_jacobi']]} (bound {N-1}); "
                  f"max err vs naive: cached {r['err_cached']:.1e}, jacobi {r['err_jacobi']:.1e}, "
                  + ', '.join(f"gs{G} {r[f'err_gs{G}']:.1e}" for G in a.groups))
    write_json('sampling.json', dict(machine=machine_info(), args=vars(a),
        flow=dict(token_dim=4, channels=64, head_dim=16, layers_per_block=[1, 1, 1, 2], num_classes=10), rows=rows,
        notes='times in seconds (median); x = naive/method; F = method/forward (forward of the same batch, 2B rows with cfg)'))

if __name__ == '__main__': main()
