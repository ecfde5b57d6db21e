#!/usr/bin/env python3
"""Build the documentation site from the notebooks without Quarto.

nbdev renders `show_doc` into processed notebooks (`nbdev.serve.proc_nbs`, into `_proc/`); we turn each one's front
matter into a title and summary, hide the input of `show_doc` cells, drop metadata that is not valid nbformat, and
build a static site with mkdocs-material + mkdocs-jupyter into `_site/`. With `--check`, every notebook that exports a
module must have a page that names each of the module's exported names.
"""
import argparse, importlib, os, json, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC, SITE = ROOT/'_docs_src', ROOT/'_site'

def _front_matter(src: str) -> dict:
    "Parse nbdev's YAML front matter (title, description) from a raw cell."
    import yaml
    body = src.strip().strip('-').strip()
    return yaml.safe_load(body) or {}

def prepare(nb: dict) -> dict:
    "Front matter -> H1 + summary, show_doc inputs hidden, invalid nbformat keys removed."
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and src.lstrip().startswith('---'):
            fm = _front_matter(src)
            md = f"# {fm.get('title', '')}\n\n> {fm.get('description', '')}\n" if fm.get('title') else ''
            if md: cells.append(dict(cell_type='markdown', metadata={}, source=md, id=c.get('id', 'fm')))
            continue
        meta = {k: v for k, v in c.get('metadata', {}).items() if k not in ('execution', 'has_sd')}
        if c['cell_type'] == 'code':
            if 'show_doc(' in src: meta['tags'] = ['hide-input']
            c = {**c, 'source': re.sub(r'^#\|.*\n?', '', src, flags=re.M)}
        cells.append({**c, 'metadata': meta})
    return {**nb, 'cells': cells}

def build():
    from nbdev.serve import proc_nbs
    proc = proc_nbs(n_workers=1)
    shutil.rmtree(SRC, ignore_errors=True); SRC.mkdir()
    for f in sorted(Path(proc).glob('**/*.ipynb')):
        out = SRC/f.relative_to(proc)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(prepare(json.loads(f.read_text()))))
    for extra in ('nbs/figures',):
        if (ROOT/extra).exists(): shutil.copytree(ROOT/extra, SRC/Path(extra).name)
    r = subprocess.run([Path(sys.executable).parent/'mkdocs', 'build', '-q', '-f', str(ROOT/'mkdocs.yml')], cwd=ROOT,
                       env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
    if r.returncode: sys.exit(f'mkdocs build failed ({r.returncode})')

def check() -> list[str]:
    "Problems: notebooks without a page, or pages missing an exported name."
    problems = []
    for nb in sorted((ROOT/'nbs').glob('[!_.]*.ipynb')):
        page = SITE/'index.html' if nb.stem == 'index' else SITE/nb.stem/'index.html'
        if not page.exists(): problems.append(f'{nb.name}: no page {page.relative_to(ROOT)}'); continue
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', nb.read_text())
        if not m: continue
        html = page.read_text()
        mod = importlib.import_module(f'mimflow.{m.group(1)}')
        names = [n for n in getattr(mod, '__all__', []) if callable(getattr(mod, n))]   # show_doc documents callables
        if missing := [n for n in names if n not in html]: problems.append(f'{nb.name}: page lacks {missing}')
    return problems

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--check', action='store_true', help='check that every notebook has a page with its exported names')
    a = ap.parse_args()
    build()
    print(f'docs: site built in {SITE.relative_to(ROOT)}/ ({len(list(SITE.glob("*/index.html")))} pages)')
    if a.check:
        probs = check()
        for p in probs: print('docs check:', p)
        if probs: sys.exit(1)
        print('docs check: every notebook has a page naming its exported names')
