#!/usr/bin/env python3
"""Execute the notebooks on the CPU and write their outputs back, reproducibly; or check that they are current.

    python tools/run_notebooks.py                          # every notebook nbdev-test runs, one after the other
    python tools/run_notebooks.py nbs/03_masking.ipynb     # only these
    python tools/run_notebooks.py --flags slow             # also run the cells flagged `slow` (as nbdev-test --flags)
    python tools/run_notebooks.py --check                  # execute nothing: are the stored outputs current?

Each notebook runs in a fresh Python process under execnb, as nbdev-test runs it (the notebook's folder as working
directory, the cells nbdev-test would run, `MPLBACKEND=Agg`, `HF_HUB_OFFLINE=1`) but with `IN_TEST` unset, so
notebooks do their full, documented work. When every cell ran, the outputs are written back into the notebook:

- cleaned the way `nbdev-clean` cleans (execution counts and output metadata dropped, `at 0x...` ids removed), so
  running `nbdev-clean` afterwards changes nothing;
- without progress bars (fastprogress/fastai HTML bars, tqdm and other carriage-return progress lines, fastprogress'
  `Total time:`) and without well-known warning noise (`NOISE_WARNINGS`);
- with the outputs of cells that did not run (flags, `eval: false`) cleared: the stored outputs are one run's;
- with `metadata["mimflow"] = {"source_hash": ..., "flags": ..., "outputs": ...}`: a hash of the code cells'
  sources, the flags the run used, and how many outputs it stored.

Outputs that look machine- or run-dependent (absolute paths such as /tmp/ or /work/, dates, timings) are REPORTED,
not edited: fix the notebook so it does not print them.

`--check` executes nothing. It fails (exit 1) listing each notebook that was never executed by this tool, whose code
changed since (the hash differs), or that lost the outputs its run stored; it also reports suspicious outputs.
A failed notebook is not written: its previous outputs stay. Exit code 0 only when every selected notebook ran.
"""
import argparse, hashlib, json, os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
META = 'mimflow'                   # notebook metadata key (kept by nbdev-clean through [tool.nbdev] allowed_metadata_keys)

# Warnings that are pure noise: third-party deprecations a reader cannot act on. Matched against the warning's
# message line (`file:line: Category: message`); the line and the source line printed under it are dropped.
NOISE_WARNINGS = [
    r'(FutureWarning|DeprecationWarning): `?torch\.jit\.(script|script_method|trace)`? is (deprecated|not supported in Python 3\.1\d)',
    r'FutureWarning: `torch\.cuda\.amp\.\w+\(args\.\.\.\)` is deprecated',
    r'UserWarning: CUDA initialization: Found no NVIDIA driver',
]
_noise_re = re.compile('|'.join(f'(?:{p})' for p in NOISE_WARNINGS))
_warn_line_re = re.compile(r'^\S.*:\d+: \w*(Warning|Deprecation)\w*: ')

# Progress bars as they print on a console: fastprogress (` |████----| 40.00% [2/5 00:01<00:02 loss]`) and tqdm
# (`desc:  40%|####      | 2/5 [00:01<00:02, 1.5it/s]`); removed wherever they occur in a line.
_bar_re = re.compile(r' ?\|[█X\-]*\| *\d+(\.\d+)?% \[\d+/\d+ [\d:]+<[\d:?]*[^\]\n]*\]'
                     r'|[^\r\n|]*?\d+%\|[^|\n]*\| *\d+/\d+(\s*\[[^\]\n]*\])?')
_total_time_re = re.compile(r'^Total time: [\d:]+\s*$')           # fastprogress ConsoleMasterBar's last line
# Log lines that are pure environment noise (torch's glog-style lines carry a date, a time and a process id).
NOISE_LOGS = [r'^[IWEF]\d{4} [\d:.]+ +\d+ .*No CUDA runtime is found']
_noise_log_re = re.compile('|'.join(NOISE_LOGS))

# Suspicious text in outputs: absolute machine paths, dates, timings.
SUSPICIOUS = {
    'temp/absolute path': r'/tmp/|/work/|/home/|/Users/|/private/var/|[A-Za-z]:\\\\Users',
    'date': r'\b20\d\d-[01]\d-[0-3]\d\b|\b20\d\d[01]\d[0-3]\d-\d{6}\b|^[IWEF][01]\d[0-3]\d \d\d:\d\d:\d\d',
    'clock time': r'\b\d\d:\d\d(:\d\d)?\b',
    'timing': r'\b\d+(\.\d+)?\s*(seconds?|secs?|ms|µs|us)\b|\bms per\b|\b\d+\.\d+\s?s\b(?! *=)|\b\d+(\.\d+)?\s*(it/s|s/it)\b',
}
_susp_re = {k: re.compile(v, re.M) for k, v in SUSPICIOUS.items()}

def notebooks(paths=None) -> list[Path]:
    "The notebooks in `paths`, or every notebook nbdev-test would run (same globbing, `.notest` honoured), sorted."
    if paths: return [Path(p).resolve() for p in paths]
    from nbdev.doclinks import nbglob
    from nbdev.test import _keep_file
    return [f.absolute() for f in sorted(nbglob(as_path=True)) if _keep_file(f, '.notest')]

def executed_notebooks() -> list[Path]:
    "Every notebook under nbs/ (`.notest` folders included) whose metadata records a run of this tool."
    from nbdev.doclinks import nbglob
    return [f.absolute() for f in nbglob(as_path=True) if f'"{META}"' in f.read_text(encoding='utf-8')
            and json.loads(f.read_text(encoding='utf-8')).get('metadata', {}).get(META)]

def _src(c) -> str: return c['source'] if isinstance(c['source'], str) else ''.join(c['source'])

def source_hash(nb: dict) -> str:
    "sha256 of the code cells' sources (trailing whitespace ignored): changes when any code changes."
    srcs = [_src(c).rstrip() for c in nb['cells'] if c['cell_type'] == 'code']
    return 'sha256:' + hashlib.sha256(json.dumps(srcs, ensure_ascii=False).encode()).hexdigest()

def _rel(p: Path) -> str:
    try: return str(Path(p).resolve().relative_to(Path.cwd().resolve()))
    except ValueError: return str(p)

# ---------------------------------------------------------------------------------------------- output cleaning
def _text(x) -> str: return x if isinstance(x, str) else ''.join(x)

def clean_stream(text: str) -> str:
    """Drop progress text and noise from a stream. A line rewritten with carriage returns keeps its last write, as a
    terminal shows it, unless that is a counter seen before with other numbers (`step 3/10`); progress bars are cut
    out of every line; fastprogress' `Total time:`, noise warnings and noise log lines are dropped."""
    out, skip_src = [], False
    for line in text.split('\n'):
        segs = line.rstrip('\r').split('\r')
        if len(segs) > 1:                                     # rewritten in place: a terminal shows the last write
            line, digitless = segs[-1], lambda t: re.sub(r'[\d.]+', '#', t).strip()
            if any(digitless(line) in (digitless(x), digitless(_bar_re.sub('', x))) for x in segs[:-1]): continue   # a counter
            # that updates itself, or what is left of a bar's label after the bar was erased
        if _bar_re.search(line):
            line = _bar_re.sub('', line)
            if not line.strip(): continue
        line = line.rstrip('\r')
        if skip_src:                                          # the source line Python prints under a warning
            skip_src = False
            if line.startswith((' ', '\t')): continue
        if _warn_line_re.match(line) and _noise_re.search(line): skip_src = True; continue
        if _total_time_re.match(line) or _noise_log_re.search(line): continue
        out.append(line)
    return re.sub(r'\n{3,}', '\n\n', '\n'.join(out)).lstrip('\n')

def _is_progress(data: dict) -> bool:
    "fastprogress/fastai notebook bars (HTML `<progress>`) and tqdm.notebook widgets (their text shows the bar)."
    html = _text(data.get('text/html', ''))
    if re.search(r'<progress[\s>]|progress-bar-interrupted', html): return True
    return 'application/vnd.jupyter.widget-view+json' in data and bool(_bar_re.search(_text(data.get('text/plain', ''))))

def clean_outputs(outputs: list) -> list:
    "Outputs without progress bars and noise; stream outputs left empty are dropped."
    res = []
    for o in outputs:
        o = dict(o)
        if o.get('output_type') == 'stream':
            t = clean_stream(_text(o.get('text', '')))
            if not t.strip(): continue
            o['text'] = t.splitlines(True)
        elif o.get('output_type') in ('display_data', 'update_display_data', 'execute_result'):
            data = o.get('data', {})
            if _is_progress(data): continue
            if o['output_type'] == 'update_display_data': continue
            if set(data) <= {'text/plain'} and not _text(data.get('text/plain', '')).strip(): continue
            o.pop('transient', None)
        res.append(o)
    return res

def suspicious(nb: dict) -> list[str]:
    "`cell id: kind: excerpt` for each output text that looks machine-, date- or time-dependent."
    found = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []) or []:
            texts = [_text(o.get('text', ''))] + [_text(v) for k, v in (o.get('data') or {}).items()
                                                  if k.startswith('text/') or k in ('application/json',)]
            if o.get('output_type') == 'error': texts.append('\n'.join(o.get('traceback', [])))
            for t in texts:
                for kind, r in _susp_re.items():
                    for m in r.finditer(t):
                        a, b = max(0, m.start() - 40), min(len(t), m.end() + 40)
                        found.append(f"cell {c.get('id', i)}: {kind}: ...{t[a:b].strip()!r}...")
                        break
    return found

def n_outputs(nb: dict) -> int: return sum(len(c.get('outputs') or []) for c in nb['cells'] if c['cell_type'] == 'code')

# ---------------------------------------------------------------------------------------------- execution
def _nbdev_cfg(fn: Path):
    from nbdev.config import get_config
    return get_config(fn.parent)

def clean_like_nbdev(nb: dict, fn: Path):
    "What `nbdev-clean` does to `nb`, with the project's configuration (so running it afterwards is a no-op)."
    from nbdev.clean import clean_nb
    cfg = _nbdev_cfg(fn)
    clean_nb(nb, cfg.clear_all, cfg.get('allowed_metadata_keys') or [], cfg.get('allowed_cell_metadata_keys') or [],
             cfg.clean_ids, cfg.get('allowed_out_metadata_keys') or [])

def run_one(fn: Path, flags: str, timeout: int|None, mpl_format: str) -> int:
    "Execute notebook `fn` in this process and write it back (0), or report the failure (1). The worker's body."
    from fastcore.nbio import read_nb, write_nb, nb2dict
    from execnb.shell import CaptureShell
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    from nbdev.frontmatter import nb_frontmatter
    from fastcore.basics import str2bool
    os.environ.pop('IN_TEST', None)
    name = _rel(fn)
    raw = json.loads(fn.read_text(encoding='utf-8'))
    h0 = source_hash(raw)
    cfg = _nbdev_cfg(fn)
    skip_flags = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags or [])
    nb = NBProcessor(fn, rm_directives=False, process=True).nb
    if str2bool(nb_frontmatter(nb).get('skip_exec', False)):
        print(f'{name}: skip_exec in its front matter, not executed'); return 0
    skip = _skip_cell(nb, skip_flags, flags.split())
    ran = set()
    def pre(cell):
        s = bool(skip(cell))
        if not s: ran.add(cell.idx_)
        return s
    if str(cfg.config_path) not in sys.path: sys.path.insert(0, str(cfg.config_path))
    k = CaptureShell(fn, mpl_format=mpl_format, profile=bool(cfg.exec_profile))
    t0 = time.time()
    try:
        os.chdir(fn.parent)
        k.run_all(nb, exc_stop=True, preproc=pre, cell_timeout=timeout)
    except BaseException:
        sys.stderr.write((k.prettytb(fname=fn) or 'error') + '\n')
        print(f'FAILED {name} ({time.time() - t0:.0f} s): not written'); return 1
    finally: k.close()
    done = nb2dict(nb)
    cur = json.loads(fn.read_text(encoding='utf-8'))           # the notebook as it is now: edited while running?
    if source_hash(cur) != h0 or len(cur['cells']) != len(done['cells']):
        print(f'FAILED {name}: its code changed while it ran; not written'); return 1
    for i, (c, d) in enumerate(zip(cur['cells'], done['cells'])):
        if c['cell_type'] != 'code': continue
        c['outputs'] = clean_outputs(d.get('outputs', [])) if i in ran else []
        c['execution_count'] = None
    clean_like_nbdev(cur, fn)
    cur.setdefault('metadata', {})[META] = {'source_hash': h0, 'flags': ' '.join(sorted(flags.split())),
                                            'outputs': n_outputs(cur)}
    write_nb(cur, fn)
    print(f'ran {name} ({time.time() - t0:.0f} s): {len(ran)} cells, {n_outputs(cur)} outputs written')
    for s in suspicious(cur): print(f'  suspicious output in {name}: {s}')
    return 0

def run_all(files: list[Path], flags: str, timeout: int|None, mpl_format: str, keep_going: bool) -> tuple[list, list]:
    "Run each notebook in its own process, in order: (the notebooks run, those that failed)."
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1', 'PYTHONHASHSEED': '0'}
    env.pop('IN_TEST', None)
    done, failed = [], []
    for f in files:
        print(f'== {_rel(f)}', flush=True)
        done.append(f)
        cmd = [sys.executable, __file__, '--_worker', str(f), '--flags', flags, '--mpl-format', mpl_format]
        if timeout is not None: cmd += ['--timeout', str(timeout)]
        if subprocess.run(cmd, env=env).returncode:              # the worker moves to the notebook's folder
            failed.append(_rel(f))
            if not keep_going: break
    return done, failed

# ---------------------------------------------------------------------------------------------- check
def _skip_exec(fn: Path) -> bool:
    "Does the notebook's front matter say `skip_exec: true`?"
    from fastcore.nbio import read_nb
    from fastcore.basics import str2bool
    from nbdev.frontmatter import nb_frontmatter
    return str2bool(nb_frontmatter(read_nb(fn)).get('skip_exec', False))

def check(files: list[Path]) -> tuple[list[str], list[str]]:
    "(problems, suspicious outputs) of the stored notebooks: never executed, stale, or outputs lost."
    problems, warns = [], []
    for f in files:
        nb = json.loads(f.read_text(encoding='utf-8'))
        meta = nb.get('metadata', {}).get(META) or {}
        if _skip_exec(f): continue                                  # nbdev-test does not run it either
        if not meta.get('source_hash'):
            if any(c['cell_type'] == 'code' for c in nb['cells']): problems.append(f'{_rel(f)}: never executed by tools/run_notebooks.py')
            continue
        if meta['source_hash'] != source_hash(nb): problems.append(f'{_rel(f)}: stale: its code changed since it was executed'); continue
        if n_outputs(nb) < int(meta.get('outputs', 0)):                 # outputs cleared since (e.g. nbdev-clean --clear_all)
            problems.append(f"{_rel(f)}: has {n_outputs(nb)} outputs, its run stored {meta.get('outputs', 0)}")
        warns += [f'{_rel(f)}: {s}' for s in suspicious(nb)]
    return problems, warns

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('paths', nargs='*', help='notebooks to run (default: every notebook nbdev-test runs)')
    ap.add_argument('--check', action='store_true', help='execute nothing; fail on never-executed or stale notebooks')
    ap.add_argument('--flags', default='', help='nbdev tst_flags to run as well, e.g. "slow"')
    ap.add_argument('--timeout', type=int, default=None, help='seconds per cell, 0 for no limit (default: nbdev cell_timeout, 600)')
    ap.add_argument('--mpl-format', default='png', help="matplotlib inline format: png (default) or retina (2x)")
    ap.add_argument('--keep-going', action='store_true', help='run the remaining notebooks after a failure')
    ap.add_argument('--strict', action='store_true', help='suspicious outputs fail the run or the check too')
    ap.add_argument('--_worker', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._worker:
        fn = Path(a._worker).resolve()
        timeout = (a.timeout if a.timeout is not None else _nbdev_cfg(fn).cell_timeout) or None   # 0: no limit
        sys.exit(run_one(fn, a.flags, timeout, a.mpl_format))
    files = notebooks(a.paths)
    if a.check and not a.paths:                # also notebooks nbdev-test skips (.notest) that were executed by this tool
        files = sorted({*files, *executed_notebooks()})
    if missing := [f for f in files if not f.exists()]: sys.exit(f'no such notebook: {", ".join(map(str, missing))}')
    if a.check:
        problems, warns = check(files)
        for w in warns: print(f'suspicious output: {w}')
        for p in problems: print(f'outputs check: {p}')
        bad = problems or (a.strict and warns)
        print(f'outputs check: {len(files) - len(problems)} of {len(files)} notebooks executed with their current code'
              + (f', {len(warns)} suspicious outputs' if warns else ''))
        if bad: print('outputs check: run `python tools/run_notebooks.py NOTEBOOK...` and commit the notebooks')
        sys.exit(1 if bad else 0)
    done, failed = run_all(files, a.flags, a.timeout, a.mpl_format, a.keep_going)
    _, warns = check([f for f in done if _rel(f) not in failed])
    print(f'notebooks: {len(done) - len(failed)} of {len(files)} executed and written' + (f'; failed: {", ".join(failed)}' if failed else '')
          + (f'; {len(warns)} suspicious outputs (see above)' if warns else ''))
    sys.exit(1 if failed or (a.strict and warns) else 0)

if __name__ == '__main__': main()
