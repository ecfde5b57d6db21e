#!/usr/bin/env python3
"""Run every check of the project and end with an honest `notebooks: N passed, M failed` line.

1. sync: `nbdev-export` of the notebooks, done in a scratch copy, must reproduce `mimflow/` exactly;
2. imports: every exported module imports on its own;
3. notebooks: `nbdev-test` over all notebooks (flags: `--flags slow` runs the slow cells too);
4. docs (with `--docs`): the offline site builds, every notebook's page lists its exported names and shows all of its
   figures, and links between pages resolve (`tools/build_docs.py --check`);
5. outputs (with `--outputs`): every notebook's stored outputs come from its current code
   (`tools/run_notebooks.py --check`; run `python tools/run_notebooks.py` to refresh them);
6. tables: the README's result tables are what `experiments/report.py` makes of the committed result files.
Exit code 0 only when everything passed and at least one notebook ran.
"""
import argparse, filecmp, importlib, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def check_sync() -> list[str]:
    "Export the notebooks in a scratch copy and list the files of `mimflow/` that differ."
    with tempfile.TemporaryDirectory() as d:
        for f in ('pyproject.toml', 'README.md', 'LICENSE'):
            if (ROOT/f).exists(): shutil.copy(ROOT/f, d)
        shutil.copytree(ROOT/'nbs', Path(d)/'nbs')
        (Path(d)/'mimflow').mkdir(); shutil.copy(ROOT/'mimflow'/'__init__.py', Path(d)/'mimflow')
        r = subprocess.run([BIN/'nbdev-export'], cwd=d, capture_output=True, text=True)
        if r.returncode: return [f'nbdev-export failed: {r.stderr.strip()[-500:]}']
        new, old = Path(d)/'mimflow', ROOT/'mimflow'
        names = {p.relative_to(new) for p in new.rglob('*.py')} | {p.relative_to(old) for p in old.rglob('*.py')}
        return [str(n) for n in sorted(names) if not ((new/n).exists() and (old/n).exists() and filecmp.cmp(new/n, old/n, shallow=False))]

def check_imports() -> list[str]:
    bad = []
    for p in sorted((ROOT/'mimflow').rglob('*.py')):
        mod = '.'.join(p.relative_to(ROOT).with_suffix('').parts)
        r = subprocess.run([sys.executable, '-c', f'import {mod}'], capture_output=True, text=True, cwd=ROOT)
        if r.returncode: bad.append(f'{mod}: {r.stderr.strip().splitlines()[-1]}')
    return bad

def run_notebooks(flags: str, workers: int) -> tuple[int, list[str]]:
    "Run nbdev-test, streaming its output; return (notebooks run, notebooks failed)."
    cmd = [str(BIN/'nbdev-test'), '--do-print', '--timing', '--n-workers', str(workers)]
    if flags: cmd += ['--flags', flags]
    env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 2) // workers))),
           'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'}
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started, failed, in_fail = set(), [], False
    for line in p.stdout:
        sys.stdout.write(line); sys.stdout.flush()
        started.update(re.findall(r'Starting (\S+?\.ipynb)', line))   # lines of parallel workers can interleave
        if 'Tests Failed On The Following Notebooks' in line: in_fail = True
        elif in_fail and line.strip().endswith('.ipynb'): failed.append(line.strip())
    rc = p.wait()
    if rc and not failed: failed.append(f'nbdev-test exited with {rc}')
    return len(started), failed

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--flags', default='', help='nbdev tst_flags to run, e.g. "slow"')
    ap.add_argument('--workers', type=int, default=2, help='notebooks run in parallel')
    ap.add_argument('--docs', action='store_true', help='also build the offline docs and check their pages')
    ap.add_argument('--outputs', action='store_true', help='also check that the notebooks\' stored outputs are current')
    a = ap.parse_args()
    problems = []
    print('== sync check: nbdev-export reproduces mimflow/', flush=True)
    if out := check_sync(): problems.append(f'mimflow/ is out of sync with the notebooks (run nbdev-export): {out}')
    print('== every exported module imports', flush=True)
    if bad := check_imports(): problems.append('modules that do not import: ' + '; '.join(bad))
    print('== README tables come from the result files', flush=True)
    r = subprocess.run([sys.executable, str(ROOT/'experiments'/'report.py'), '--check'], cwd=ROOT)
    if r.returncode: problems.append('README tables differ from the result files (run experiments/report.py --readme)')
    if a.outputs:
        print('== stored notebook outputs are current', flush=True)
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'run_notebooks.py'), '--check'], cwd=ROOT)
        if r.returncode: problems.append('notebooks whose stored outputs are missing or stale (run tools/run_notebooks.py on them)')
    if a.docs:
        print('== offline docs', flush=True)
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--check'], cwd=ROOT)
        if r.returncode: problems.append('the docs build or its page check failed')
    print('== notebooks', flush=True)
    n, failed = run_notebooks(a.flags, a.workers)
    for pr in problems: print(f'FAILED: {pr}')
    for f in failed: print(f'FAILED notebook: {f}')
    if n == 0: print('FAILED: no notebook ran')
    nfail = len([f for f in failed if f.endswith('.ipynb')]) or len(failed)
    print(f'notebooks: {n - nfail} passed, {nfail} failed')
    sys.exit(1 if (problems or failed or n == 0) else 0)

if __name__ == '__main__': main()
