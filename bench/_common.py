"""Shared helpers of the bench/ scripts: machine description, robust timing, JSON output."""
import json, os, platform, statistics, time
from pathlib import Path
import torch

RESULTS = Path(__file__).resolve().parent/'results'

def machine_info() -> dict:
    "CPU model, cores, torch version and threads, GPU name if any."
    cpu = platform.processor()
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return dict(cpu=cpu, cores=os.cpu_count(), torch=torch.__version__, threads=torch.get_num_threads(),
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None, python=platform.python_version())

def timeit(fn, min_reps: int = 3, max_reps: int = 20, budget_s: float = 1.0, warmup: int = 1) -> dict:
    "Median (and min) wall time of `fn()` over at least `min_reps` runs, more while within `budget_s`."
    for _ in range(warmup): fn()
    ts, t0 = [], time.perf_counter()
    while len(ts) < min_reps or (len(ts) < max_reps and time.perf_counter() - t0 < budget_s):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return dict(median=statistics.median(ts), min=min(ts), reps=len(ts))

def write_json(name: str, d: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    p = RESULTS/name
    p.write_text(json.dumps(d, indent=1))
    print(f'wrote {p}')
    return p
