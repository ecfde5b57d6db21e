"""Where one training step of a preset goes (default: `small` on Fashion-MNIST, one thread): each part of the model
forward and backward on its own, the optimizer, clipping, EMA, data loading, and the whole step through the fastai
Learner; the parts against the whole.

    python bench/step_profile.py [--preset small] [--set aux.hog=false ...] [--threads 1] [--rounds 7]

Each part is timed as the joint step runs it: its forward from the inputs it gets there, and the backward of its
loss into its own parameters and into those inputs (a random gradient stands in for the loss above the encoder).
Rounds interleave every measurement and each time is the minimum over the rounds, so load on a shared machine hits
all of them alike and the shares come from one run. Writes bench/results/step_profile[_NAME].json.
"""
import argparse, copy, statistics, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, write_json

def parts(model, x, y):
    "{part: function running its forward + backward} for one batch, in the order of the joint forward."
    from mimflow.flow import nll_loss
    from mimflow.aux_heads import hog_features, masked_mse, masked_neg_cos
    ae, aux = model.autoencoder, model.autoencoder.aux
    with torch.no_grad(): l, mask, _ = ae.encode_with_mask(x)
    lt = (l + model.cfg.sigma * torch.randn_like(l)).requires_grad_()
    def encoder():
        l, _, _ = ae.encode_with_mask(x); l.backward(torch.randn_like(l))
    def flow(): nll_loss(*model.flow(lt, y)).backward()
    def decoder(): F.mse_loss((ae.decode(lt) + 1) / 2, (x + 1) / 2).backward()
    out = dict(encoder=encoder, flow=flow, decoder=decoder)
    if aux is not None:
        m = mask.reshape(len(x), -1)
        for name, head in aux.heads.items():
            if name == 'hog': out['aux: HOG head (targets included)'] = lambda h=head: masked_mse(h(lt), hog_features(x, model.cfg.patch_size), m).backward()
            else:
                t = name.removeprefix('teacher_')
                def teach(h=head, t=t):
                    with torch.no_grad(): target = aux.teacher(t)(x).float()
                    masked_neg_cos(h(lt), target, m).backward()
                out[f'aux: {t} teacher head (teacher included)'] = teach
        if aux.repa is not None:
            def repa():
                with torch.no_grad(): target = aux.teacher(aux.repa_teacher)(x).float()
                masked_neg_cos(aux.repa(lt), target).backward()
            out['aux: REPA projector (teacher included)'] = repa
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--preset', default='small'); p.add_argument('--set', action='append', default=[])
    p.add_argument('--threads', type=int, default=1); p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--name', default=''); a = p.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    from fastai.callback.core import Callback
    from timm.utils import ModelEmaV3
    from mimflow.config import get_preset, replace
    from mimflow.data import get_dls
    from mimflow.learner import mimflow_learner, fit_mimflow
    from mimflow.model import MIMFlow
    cfg = replace(get_preset(a.preset), **dict(s.split('=', 1) for s in a.set))
    dls = get_dls(cfg)
    model = MIMFlow(cfg).train()
    it = iter(dls.train); x, y = next(it)
    opt = torch.optim.AdamW(model.parameters(), 1e-4, betas=(0.9, 0.95), weight_decay=1e-4)
    ema = ModelEmaV3(model, decay=0.995)
    def step():
        model(x, y)['loss'].backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.); opt.step(); opt.zero_grad()
    def batch():
        nonlocal it
        try: next(it)
        except StopIteration: it = iter(dls.train); next(it)
    fns = {**parts(model, x, y), 'joint forward + backward': lambda: model(x, y)['loss'].backward(),
           'gradient clipping': lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.), 'AdamW step': opt.step,
           'EMA update': lambda: ema.update(model), 'data: next batch': batch, 'bare step (all of it, by hand)': step}

    class Stamps(Callback):
        order = -100
        def __init__(self): self.t = []
        def before_batch(self): self.training and self.t.append(time.perf_counter())
        def after_train(self): self.t.append(time.perf_counter())
    def learner_step(n=12):
        st = Stamps()
        learn = mimflow_learner(copy.deepcopy(model), dls, steps=n, progress=False, cbs=[st])
        with learn.no_logging(): fit_mimflow(learn)
        d = [b - a for a, b in zip(st.t, st.t[1:])][2:-1]                # not the warm-up, nor the cut-off last batch
        return statistics.median(d)
    ts = {k: [] for k in fns}; ts['fastai Learner step (mimflow_learner)'] = []
    for f in fns.values(): f(); opt.zero_grad()
    for r in range(a.rounds):
        for k, f in fns.items():
            t = time.perf_counter(); f(); ts[k].append(time.perf_counter() - t); model.zero_grad(set_to_none=False)
        ts['fastai Learner step (mimflow_learner)'].append(learner_step())
    best = {k: min(v) for k, v in ts.items()}
    whole = best['fastai Learner step (mimflow_learner)']
    print(f"{cfg.name}: one step of batch {cfg.optim.batch_size}, {a.threads} thread(s), min over {a.rounds} rounds")
    for k, v in best.items(): print(f'  {k:45s} {v * 1e3:8.1f} ms  {v / whole:6.1%} of the Learner step')
    write_json(f'step_profile{"_" + a.name if a.name else ""}.json', dict(machine=machine_info(), args=vars(a), preset=cfg.name,
               batch=cfg.optim.batch_size, seconds=best, learner_step_s=whole,
               notes='minimum over interleaved rounds; parts are forward + backward of each part alone, as the joint step runs it'))

if __name__ == '__main__': main()
