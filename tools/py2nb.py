#!/usr/bin/env python3
"""Convert a draft file into a notebook (and back).

Draft format: cells start with a line `#%%` (code) or `#%% md` (markdown); markdown content is raw.
Cell ids are stable: derived from the notebook name and the cell's first line + occurrence count,
so inserting a cell does not churn the ids of the others. Writing over an existing notebook keeps its metadata (the
output hash of tools/run_notebooks.py) and the outputs of every code cell whose source did not change: a notebook
whose code is unchanged stays current, and one whose code changed reads as stale until it is executed again.

  py2nb.py draft.py nbs/05_flow.ipynb     # draft -> notebook
  py2nb.py --back nbs/05_flow.ipynb out.py # notebook -> draft
"""
import json, sys, hashlib, re
from pathlib import Path

def parse(text):
    cells, cur, kind = [], None, None
    for line in text.splitlines():
        m = re.match(r'^#%%(\s+md)?\s*$', line)
        if m:
            if cur is not None: cells.append((kind, cur))
            cur, kind = [], ('markdown' if m.group(1) else 'code')
        elif cur is not None: cur.append(line)
    if cur is not None: cells.append((kind, cur))
    out = []
    for kind, lines in cells:
        while lines and not lines[-1].strip(): lines.pop()
        while lines and not lines[0].strip(): lines.pop(0)
        out.append((kind, '\n'.join(lines)))
    return out

def to_nb(cells, name):
    seen, nbcells = {}, []
    for kind, src in cells:
        key = (src.splitlines() or [''])[0]
        seen[key] = seen.get(key, 0) + 1
        cid = hashlib.sha1(f'{name}|{key}|{seen[key]}'.encode()).hexdigest()[:8]
        lines = src.splitlines(keepends=True)
        c = dict(cell_type=kind, id=cid, metadata={}, source=lines)
        if kind == 'code': c.update(execution_count=None, outputs=[])
        nbcells.append(c)
    return dict(cells=nbcells, metadata=dict(kernelspec=dict(display_name='python3', language='python', name='python3')),
                nbformat=4, nbformat_minor=5)

def keep_outputs(nb, old):
    "Carry `old`'s metadata and the outputs of unchanged code cells (same id and source) over to `nb`."
    prev = {c['id']: c for c in old['cells'] if c['cell_type'] == 'code'}
    for c in nb['cells']:
        o = prev.get(c['id'])
        if c['cell_type'] == 'code' and o is not None and ''.join(o['source']) == ''.join(c['source']):
            c.update(execution_count=o.get('execution_count'), outputs=o.get('outputs', []))
    nb['metadata'] = {**old.get('metadata', {}), **nb['metadata']}
    return nb

def back(nb):
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        parts.append(('#%% md\n' if c['cell_type'] == 'markdown' else '#%%\n') + src + '\n')
    return '\n'.join(parts)

if __name__ == '__main__':
    if sys.argv[1] == '--back':
        Path(sys.argv[3]).write_text(back(json.loads(Path(sys.argv[2]).read_text())))
    else:
        src, dst = Path(sys.argv[1]), Path(sys.argv[2])
        nb = to_nb(parse(src.read_text()), dst.stem)
        if dst.exists(): nb = keep_outputs(nb, json.loads(dst.read_text()))
        dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
