#!/usr/bin/env python3
"""Put a trained run's model into the package, where `MIMFlow.from_pretrained(NAME)` finds it.

    python tools/ship_model.py runs/small-fashion small-fashion

Writes mimflow/pretrained/NAME/config.json and model.safetensors (`save_pretrained`: the EMA weights of the run's
last phase, in fp16), and for a run with phase 2 also decoder-phase1.safetensors: the phase-1 EMA decoder of the same
run, so that a chapter can show what phase 2 changed.
"""
import argparse, shutil
from pathlib import Path

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('run', type=Path); p.add_argument('name')
    a = p.parse_args()
    import torch
    from mimflow.core import PRETRAINED, save_tensors
    from mimflow.runs import load_run, checkpoint_path
    dst = PRETRAINED/a.name
    if dst.exists(): shutil.rmtree(dst)
    model, ck = load_run(a.run)
    model.save_pretrained(dst)
    if ck.get('phase', 1) == 2:
        p1, _ = load_run(a.run, checkpoint=checkpoint_path(a.run, 1).name)
        save_tensors(dst/'decoder-phase1.safetensors', {k: v.half() for k, v in p1.autoencoder.decoder.state_dict().items()})
    print(f'wrote {dst}: ' + ', '.join(f'{f.name} ({f.stat().st_size / 2**20:.1f} MiB)' for f in sorted(dst.iterdir())))

if __name__ == '__main__': main()
