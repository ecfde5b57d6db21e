#!/usr/bin/env python3
"""Train the networks mimflow ships for a data set and put them into the package (`mimflow/pretrained/`).

    python tools/ship_networks.py --preset small --kind classifier    # the domain classifier that scores samples
    python tools/ship_networks.py --preset small --kind perceptual    # the learned perceptual network of phase 2
    python tools/ship_networks.py --preset small --kind reference     # FID reference statistics of the evaluation images

Each is what `mimflow.classifier.classifier_for` / `mimflow.losses.learned_perceptual_net` / `mimflow.classifier.reference_for`
would train or compute (and cache) on first use; shipping it means every run of that data set, anywhere, uses the same weights. The two are trained
separately (other architecture, other seed), so the network that scores samples is never part of their loss.
"""
import argparse, shutil
import torch

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='small'); p.add_argument('--kind', choices=('classifier', 'perceptual', 'reference'), required=True)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from mimflow.config import get_preset
    from mimflow.core import PRETRAINED, net_path, shipped_path
    from mimflow.data import data_id, labelled_data
    cfg = get_preset(a.preset)
    did, src = data_id(cfg), net_path(a.kind, data_id(cfg))
    if src.parent == PRETRAINED: raise SystemExit(f'{src} is shipped already; delete it to train it again')
    if a.kind == 'classifier':
        from mimflow.classifier import classifier_for
        net = classifier_for(cfg, progress=True); print(f'valid acc {net.valid_acc:.4f}, digest {net.digest}')
    elif a.kind == 'reference':
        from mimflow.classifier import reference_for
        reference_for(cfg); print('reference statistics computed')
    else:
        from mimflow.losses import learned_perceptual_net
        net = learned_perceptual_net(did, lambda: labelled_data(cfg), progress=True); print(f'valid acc {net.meta["valid_acc"]:.4f}')
    dst = shipped_path(a.kind, did)
    shutil.copyfile(src, dst); print(f'wrote {dst}')

if __name__ == '__main__': main()
