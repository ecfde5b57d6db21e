"""Overhead of training through the fastai Learner (`mimflow_learner`, all its callbacks) against a bare PyTorch loop
(AdamW, gradient clipping, EMA by hand) on the same model (tiny preset) and the same batch.

    python bench/train_overhead.py [--threads 1] [--steps 20] [--rounds 5]

Rounds alternate a fastai epoch of `steps` steps and `steps` bare steps (interleaved so that load changes on a shared
machine hit both). A step's time is the interval between consecutive batch starts, so everything in the loop counts.
Every callback event is timed as well, which gives the overhead breakdown. Writes bench/results/train_overhead.json.
"""
import argparse, copy, statistics, sys, time
from collections import defaultdict
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, write_json
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from mimflow.config import tiny
from mimflow.core import seed_everything
from mimflow.data import digits_tensors
from mimflow.learner import mimflow_learner, fit_mimflow
from mimflow.model import MIMFlow

class SameBatch(DataLoader):
    "A fastai DataLoader that yields the same (already collated) batch `n` times: no collation cost in the comparison."
    def __init__(self, b, n):
        super().__init__(list(range(n * len(b[0]))), bs=len(b[0]))
        self.b = b
    def create_batches(self, samps):
        for _ in range(len(self)): yield self.b

class StepTimes(Callback):
    "Timestamps of the training batch starts, and of the end of the last one."
    order = -100
    def __init__(self): self.stamps = []
    def before_batch(self):
        if self.training: self.stamps.append(time.perf_counter())
    def after_train(self): self.stamps.append(time.perf_counter())   # close the last step (after_train precedes validation)

def time_events(learn, acc):
    "Wrap every callback's event methods to add their wall time to acc[(callback, event)]."
    events = ('before_fit', 'before_epoch', 'before_train', 'before_batch', 'after_pred', 'after_loss', 'before_backward',
              'after_backward', 'before_step', 'after_step', 'after_cancel_batch', 'after_batch')
    for cb in learn.cbs:
        for ev in events:
            fn = getattr(type(cb), ev, None)
            if fn is None: continue
            def timed(fn=fn, cb=cb, key=(type(cb).__name__, ev)):
                t = time.perf_counter(); r = fn(cb); acc[key] += time.perf_counter() - t; return r
            object.__setattr__(cb, ev, timed)

def bare_steps(model, opt, ema, b, n, clip):
    "n steps of the plain loop; returns the n step times."
    x, y = b
    params = [p for p in model.parameters() if p.requires_grad]
    model.train(); ts = [time.perf_counter()]
    for _ in range(n):
        loss = model(x, y)['loss']
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        with torch.no_grad():                                     # EMA by hand, as timm's ModelEmaV3 does it
            ev, mv = zip(*[(e, m) for e, m in zip(ema.state_dict().values(), model.state_dict().values()) if e.is_floating_point()])
            torch._foreach_lerp_(ev, mv, 1. - model.cfg.optim.ema_decay)
        ts.append(time.perf_counter())
    return [b - a for a, b in zip(ts, ts[1:])]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--rounds', type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads); seed_everything(0)
    cfg = tiny()
    x, y = digits_tensors(cfg.img_size, 'train'); b = (x[:cfg.optim.batch_size], y[:cfg.optim.batch_size])
    model = MIMFlow(cfg); bare = copy.deepcopy(model); ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW([p for p in bare.parameters() if p.requires_grad], lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.wd, eps=1e-8)
    dls = DataLoaders(SameBatch(b, a.steps), SameBatch(b, 1), device='cpu')
    learn = mimflow_learner(model, dls, epochs=1, progress=False)
    st = StepTimes(); learn.add_cb(st)
    acc = defaultdict(float); time_events(learn, acc)
    bare_steps(bare, opt, ema, b, 2, cfg.optim.clip)                    # warm-up both
    with learn.no_logging(): learn.fit(1)
    acc.clear()
    fa, ba, fa_epoch = [], [], []
    for r in range(a.rounds):
        st.stamps.clear(); t = time.perf_counter()
        with learn.no_logging(): learn.fit(1)
        fa_epoch.append(time.perf_counter() - t)
        fa += [t1 - t0 for t0, t1 in zip(st.stamps, st.stamps[1:])]
        ba += bare_steps(bare, opt, ema, b, a.steps, cfg.optim.clip)
        print(f'round {r}: fastai {statistics.median(fa[-a.steps:])*1e3:.1f} ms/step, bare {statistics.median(ba[-a.steps:])*1e3:.1f} ms/step')
    n_steps = a.rounds * a.steps
    mf, mb = statistics.median(fa), statistics.median(ba)
    per_step = {f'{c}.{e}': v / n_steps for (c, e), v in sorted(acc.items(), key=lambda kv: -kv[1]) if v / n_steps > 1e-6}
    by_cb = defaultdict(float)
    for (c, e), v in acc.items():
        if e not in ('before_fit', 'before_epoch', 'before_train'): by_cb[c] += v / n_steps
    res = dict(machine=machine_info(), args=vars(a), preset='tiny', batch=cfg.optim.batch_size,
               fastai_step_median=mf, bare_step_median=mb, overhead=mf / mb - 1,
               fastai_step_mean=statistics.mean(fa), bare_step_mean=statistics.mean(ba),
               fastai_epoch_per_step=statistics.median(fa_epoch) / a.steps, overhead_incl_epoch=statistics.median(fa_epoch) / a.steps / mb - 1,
               callback_s_per_step=dict(sorted(by_cb.items(), key=lambda kv: -kv[1])), event_s_per_step=per_step,
               notes='epoch time includes one validation batch and fit/epoch setup; step times exclude them')
    print(f'\nmedian step: fastai {mf*1e3:.2f} ms, bare {mb*1e3:.2f} ms -> overhead {100*(mf/mb-1):+.1f}% '
          f'(per step incl. fit/epoch setup and one validation batch per {a.steps} steps: {100*res["overhead_incl_epoch"]:+.1f}%)')
    print('callback time per training step (ms):', {k: round(v * 1e3, 3) for k, v in res['callback_s_per_step'].items()})
    own = sum(v for k, v in res['callback_s_per_step'].items() if k not in ('EMA', 'GradientClip', 'StepTimes'))
    assert own < 0.02 * mf, f"fastai's own callbacks take {own / mf:.1%} of a step (more than 2%)"
    write_json('train_overhead.json', res)

if __name__ == '__main__': main()
