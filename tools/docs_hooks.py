"""mkdocs hooks of the docs build (tools/build_docs.py adds this file to the configuration).

mkdocs-jupyter computes a page's table of contents from the notebook's markdown cells with Python-Markdown (ids made
unique with `_1`, `_2`..., inline code dropped from headings), but the page's headings get their ids from nbconvert
(no uniqueness, inline code kept): the two disagree for repeated headings and headings with code, and the table of
contents then links to anchors that do not exist. `on_page_content` gives the headings of the markdown cells the ids
of the table of contents, in order, when both have the same number of headings.
"""
import re

_cell_re = re.compile(r'<div class="jp-Cell [^"]*"')
_head_re = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)</h\1>', re.S)

def _toc_ids(items) -> list[str]:
    res = []
    for it in items:
        res.append(it.id); res += _toc_ids(it.children)
    return res

def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith('.ipynb'): return html
    ids = _toc_ids(page.toc.items)
    starts = [m.start() for m in _cell_re.finditer(html)] + [len(html)]
    md = [(a, b) for a, b in zip(starts, starts[1:]) if 'jp-MarkdownCell' in html[a:html.index('>', a)]]
    heads = [m for a, b in md for m in _head_re.finditer(html, a, b)]
    if len(heads) != len(ids): return html             # cannot pair them safely: leave the page as it is
    out, last = [], 0
    for m, new in zip(heads, ids):
        old, inner = m.group(2), m.group(3).replace(f'href="#{m.group(2)}"', f'href="#{new}"')
        out += [html[last:m.start()], f'<h{m.group(1)} id="{new}">{inner}</h{m.group(1)}>']
        last = m.end()
    return ''.join(out) + html[last:]
