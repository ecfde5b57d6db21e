#!/usr/bin/env python3
"""Build the documentation site from the notebooks without Quarto: the one docs pipeline, offline and in CI.

nbdev renders `show_doc` into processed notebooks (`nbdev.serve.proc_nbs`, into `_proc/`); `prepare` turns each one's
front matter into a title and summary, hides the input of `echo: false` cells (`show_doc`), turns nbdev's Quarto
`[source](...){...}` markup into a plain link, points nbdev's links to other pages (absolute URLs of the published site)
at the local pages, and drops metadata that is not valid nbformat. mkdocs-material + mkdocs-jupyter (`mkdocs.yml`)
then build a static site into `_site/`, with the pages named as nbdev names them (`01_config.ipynb` -> `config.html`,
as on the published site), a navigation in notebook order (home, numbered chapters, experiments), and MathJax served
from the site itself when the `django-static-mathjax` package is installed (the dev/docs extras install it).

Readers' fixes on the way (`fix_show_doc`, `fix_prose`): a class documented as `class` (nbdev writes `def`), without
the keyword arguments fastai adds to every callback; a docstring's `*` kept (nbdev wraps docstrings in `*...*`);
headings without code spans (their table-of-contents entries would be blank); `NN_chapter` references as links; and
a sidebar in sections (`SECTIONS`: start here, data, the model, training, evaluation, experiments, performance).

`--check` then fails when a notebook has no page, a page lacks one of its module's exported names, a page shows fewer
figures than its notebook holds (image/png and image/svg+xml outputs), a link between pages points at a missing
page or anchor, a table sits outside a scrolling container, a table-of-contents entry is blank, a chapter reference
is not a link, or a docstring lost a `*`. `--root DIR` builds a copy of the project (DIR/pyproject.toml, DIR/nbs)
into DIR/_site.
"""
import argparse, html.parser, importlib, json, os, re, shutil, subprocess, sys, tempfile, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).resolve().parent/'docs_assets'      # CSS and the MathJax configuration, copied into the site
MATHJAX_CDN = 'https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js'   # used only when no local copy is installed

def _front_matter(src: str) -> dict:
    "Parse nbdev's YAML front matter (title, description) from a raw cell."
    import yaml
    body = src.strip().strip('-').strip()
    return yaml.safe_load(body) or {}

def _src(c) -> str: return c['source'] if isinstance(c['source'], str) else ''.join(c['source'])

def nb_info(nb: dict, rel: Path) -> dict:
    "Title and output page (`name.html`, relative to the site) of the processed notebook `nb` at `rel` under nbs/."
    fm = next((_front_matter(_src(c)) for c in nb['cells'] if c['cell_type'] == 'raw' and _src(c).lstrip().startswith('---')), {})
    out = fm.get('output-file') or re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.stem.lower()) + '.html'
    return dict(title=fm.get('title') or rel.stem, page=(rel.parent/out).as_posix(), rel=rel.as_posix())

def _slug(anchor: str) -> str:
    "The id mkdocs-jupyter gives a heading whose Quarto anchor is `anchor` (`TransformerFlow.log_prob` -> `transformerflowlog_prob`)."
    import unicodedata
    v = unicodedata.normalize('NFKD', anchor).encode('ascii', 'ignore').decode('ascii')
    return re.sub(r'[-\s]+', '-', re.sub(r'[^\w\s-]', '', v).strip().lower())

_nb_link_re = re.compile(r'\]\((?!\w+:)([\w./-]+\.ipynb)(#[^)\s]*)?\)')

def _page_name(link: str) -> str:
    "The page of the notebook at the relative `link` (`../15_tour.ipynb` -> `../tour.html`), named as `nb_info` names it."
    p = Path(link)
    return (p.parent/(re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.stem.lower()) + '.html')).as_posix()

_source_re = re.compile(r'\[source\]\(([^)\s]+)\)\{[^}]*\}')
_heading_re = re.compile(r'^#{1,6}\s+(.+?)\s*#*\s*$', re.M)
NOTES = []                                           # links the build had to repoint, printed after the build

def heading_ids(nb: dict) -> set[str]:
    "Ids of the headings of markdown cells and markdown outputs (`show_doc`) of the processed notebook `nb`."
    texts = [_src(c) for c in nb['cells'] if c['cell_type'] == 'markdown']
    texts += [_src({'source': o['data']['text/markdown']}) for c in nb['cells'] if c['cell_type'] == 'code'
              for o in c.get('outputs', []) or [] if 'text/markdown' in o.get('data', {})]
    plain = lambda h: re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', h).replace('`', '')
    return {_slug(plain(m.group(1))) for t in texts for m in _heading_re.finditer(t)}

def fix_text(text: str, page: str, doc_url: str, pages: dict[str, set[str]]) -> str:
    """Quarto's `[source](url){...}` as an HTML link; nbdev's links to the published site (`{doc_url}/flow.html#a.b`) as
    links to the local page and the id its heading has (`flow.html#ab`; `#b` or the page itself when that is missing)."""
    text = _source_re.sub(lambda m: f'<a class="mf-source" href="{m.group(1)}" target="_blank" rel="noopener">source</a>', text)
    text = _nb_link_re.sub(lambda m: f"]({_page_name(m.group(1))}{m.group(2) or ''})", text)   # links that work on GitHub too
    if not doc_url: return text
    def local(m):
        target, anchor = m.group(1), m.group(2)
        if target not in pages: return m.group(0)
        rel = os.path.relpath(target, os.path.dirname(page) or '.')
        if not anchor: return rel
        for a in (_slug(anchor), _slug(anchor.rsplit('.', 1)[-1])):
            if a in pages[target]: return f'{rel}#{a}'
        NOTES.append(f'{page}: {target} has no heading for #{anchor}: linked to the page')
        return rel
    return re.sub(re.escape(doc_url.rstrip('/')) + r'/([\w./-]+\.html)(?:#([^)"\s>]*))?', local, text)

_sig_block_re = re.compile(r'(### (\w+)\s*\n+```python\n)def (\w+)\(')
_event_arg_re = re.compile(r'\s*(?:after|before)_\w+:NoneType=None,?')
_doc_line_re = re.compile(r'^\*(.+)\*\s*$', re.M)
_code_heading_re = re.compile(r'^(#{1,6}\s+)(.*`.*)$', re.M)
_chapter_ref_re = re.compile(r'(?<!\[)`((?:experiments/)?\d{2}[a-z]?_\w+|experiments/\w+)`(?!\]|\()')

def fix_show_doc(md: str, module) -> str:
    """A show_doc output as a reader expects it: `class Name(` for a class (nbdev writes `def`), no keyword arguments
    fastai adds to every callback (`after_create:NoneType=None, ...`), and the docstring's `*` kept as `*` (nbdev puts
    the docstring in `*...*`, where a `*` of a formula such as `C*bins` would end the emphasis)."""
    def sig(m):
        obj = getattr(module, m.group(3), None) if module else None
        return m.group(1) + ('class ' if isinstance(obj, type) else 'def ') + m.group(3) + '('
    md = _sig_block_re.sub(sig, md)
    if 'NoneType=None' in md and 'after_create' in md:
        md = _event_arg_re.sub('', md).replace('(\n    *\n)', '()').replace('(\n    *, \n)', '()')
        md = re.sub(r'\(\s*\*,?\s*\)', '()', md)
    return _doc_line_re.sub(lambda m: '*' + re.sub(r'(?<!\\)\*', r'\\*', m.group(1)) + '*', md)

def fix_prose(md: str, chapters: dict[str, str], page: str) -> str:
    "Headings without code spans (their table-of-contents entries would be blank), and `NN_chapter` references as links."
    md = _code_heading_re.sub(lambda m: m.group(1) + m.group(2).replace('`', ''), md)
    def link(m):
        target = chapters.get(m.group(1))
        return f'[`{m.group(1)}`]({os.path.relpath(target, os.path.dirname(page) or ".")})' if target else m.group(0)
    return _chapter_ref_re.sub(link, md)

def prepare(nb: dict, page: str = '', doc_url: str = '', pages: dict[str, set[str]]|None = None, chapters: dict|None = None) -> dict:
    "Front matter -> H1 + summary, `echo: false` inputs hidden, links fixed, invalid nbformat keys removed."
    cells, pages = [], pages or {}
    for c in nb['cells']:
        src = _src(c)
        if c['cell_type'] == 'raw' and src.lstrip().startswith('---'):
            fm = _front_matter(src)
            desc = fix_prose(fix_text(str(fm.get('description', '')), page, doc_url, pages), chapters or {}, page)
            md = f"# {fm.get('title', '')}\n\n> {desc}\n" if fm.get('title') else ''
            if md: cells.append(dict(cell_type='markdown', metadata={}, source=md, id=c.get('id', 'fm')))
            continue
        meta = {k: v for k, v in c.get('metadata', {}).items() if k not in ('execution', 'has_sd', 'language')}
        if c['cell_type'] == 'markdown': c = {**c, 'source': fix_prose(fix_text(src, page, doc_url, pages), chapters or {}, page)}
        if c['cell_type'] == 'code':
            dirs = dict((m.group(1), m.group(2).strip()) for m in re.finditer(r'^#\|\s*([\w-]+)\s*:?\s*(.*)$', src, re.M))
            if dirs.get('include') == 'false': continue
            if dirs.get('echo') == 'false' or 'show_doc(' in src: meta['tags'] = sorted({*meta.get('tags', []), 'hide-input'})
            outs = [] if dirs.get('output') == 'false' else c.get('outputs', [])
            for o in outs:
                for k in ('text/markdown', 'text/html'):
                    if k not in o.get('data', {}): continue
                    t = fix_text(_src({'source': o['data'][k]}), page, doc_url, pages)
                    if k == 'text/markdown' and 'show_doc(' in src: t = fix_prose(fix_show_doc(t, _module_of(t)), chapters or {}, page)
                    o['data'][k] = t
            c = {**c, 'source': re.sub(r'^#\|.*\n?', '', src, flags=re.M), 'outputs': outs, 'execution_count': None}
        cells.append({**c, 'metadata': meta})
    return {**nb, 'cells': cells}

def _module_of(md: str):
    "The mimflow module a show_doc output documents (from its source link), imported; None if it names none."
    m = re.search(r'mimflow/mimflow/blob/[^/]+/mimflow/(\w+)\.py', md)
    if not m: return None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return importlib.import_module(f'mimflow.{m.group(1)}')

# The sidebar: sections in reading order, each chapter in one of them by its notebook number (and `experiments/`).
SECTIONS = [('Start here', ('15', '15a', '14', '14a')), ('Data and configuration', ('00', '01', '02', '03')),
            ('The model', ('04', '05', '05a', '05b', '06', '07', '08', '08a', '08b', '09')), ('Training', ('10', '10a')),
            ('Evaluation', ('12', '12a', '13', '13a', '13b', '13c')), ('Experiments', ('experiments',)), ('Performance', ('16',))]

def _section(rel: str) -> str:
    m = re.match(r'^(\d+[a-z]?)_', Path(rel).name)
    key = 'experiments' if rel.startswith('experiments/') else m.group(1) if m else ''
    return next((name for name, keys in SECTIONS if key in keys), 'More')

def _nav(infos: list[dict]) -> list:
    "Home, then the chapters grouped into the sections of SECTIONS, in notebook order within each."
    home = [{'Home': i['page']} for i in infos if i['rel'] == 'index.ipynb']
    def label(i):
        m = re.match(r'^(\d+[a-z]?)_', Path(i['rel']).name)
        return f"{m.group(1)} {i['title']}" if m else i['title']
    groups = {}
    for i in infos:
        if i['rel'] != 'index.ipynb': groups.setdefault(_section(i['rel']), []).append(i)
    order = [n for n, _ in SECTIONS] + ['More']
    start = {k: n for n, k in enumerate(SECTIONS[0][1])}                  # start with the tour, then the command
    groups.get('Start here', []).sort(key=lambda i: start.get(re.match(r'^(\d+[a-z]?)_', Path(i['rel']).name).group(1), 99))
    return home + [{n: [{label(i): i['page']} for i in groups[n]]} for n in order if n in groups]

def _mathjax() -> Path|None:
    "A local MathJax 3 (SVG output: one file, no fonts to fetch), from the django-static-mathjax package."
    try: import mathjax
    except ImportError: return None
    p = Path(mathjax.__file__).parent/'static'/'mathjax'/'es5'/'tex-svg.js'
    return p if p.exists() else None

def build(root: Path = ROOT) -> dict:
    "Build `root/_site`; return {notebook path relative to nbs/: page info}."
    from nbdev.serve import proc_nbs
    from nbdev.config import get_config
    import yaml
    cfg = get_config(root/'nbs')
    doc_url = (cfg.doc_host or '') + (cfg.doc_baseurl or '').rstrip('/') if cfg.doc_host else ''
    proc = Path(proc_nbs(path=str(root/'nbs'), n_workers=1))
    src, site = root/'_docs_src', root/'_site'
    shutil.rmtree(src, ignore_errors=True); src.mkdir()
    nbs = {f.relative_to(proc): json.loads(f.read_text()) for f in sorted(proc.glob('**/*.ipynb'))
           if not any(p.startswith(('.', '_')) for p in f.relative_to(proc).parts)}
    infos = {rel.as_posix(): nb_info(nb, rel) for rel, nb in nbs.items()}
    pages = {infos[rel.as_posix()]['page']: heading_ids(nb) for rel, nb in nbs.items()}
    chapters = {str(rel.with_suffix('').as_posix()): i['page'] for rel, i in ((Path(r), i) for r, i in infos.items())}
    for rel, nb in nbs.items():
        page = infos[rel.as_posix()]['page']
        out = src/Path(page).with_suffix('.ipynb')
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(prepare(nb, page, doc_url, pages, chapters)))
    for f in proc.rglob('*'):                        # figures and other files the notebooks refer to
        rel = f.relative_to(proc)
        if f.is_file() and f.suffix not in ('.ipynb', '.yml', '.yaml', '.py', '.qmd') and not rel.name.startswith(('.', '_')) \
           and rel.name != 'styles.css':
            (src/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, src/rel)
    shutil.copytree(ASSETS, src/'assets'/'mimflow')
    mj = _mathjax()
    if mj: shutil.copy2(mj, src/'assets'/'mimflow'/'tex-svg.js')
    ordered = sorted(infos.values(), key=lambda i: (i['rel'].count('/'), i['rel']))
    conf = {'INHERIT': str((ROOT/'mkdocs.yml').resolve()), 'docs_dir': str(src), 'site_dir': str(site),
            'nav': _nav(ordered), 'hooks': [str(Path(__file__).resolve().parent/'docs_hooks.py')],
            'extra_css': ['assets/mimflow/mimflow.css'],
            'extra_javascript': ['assets/mimflow/mathjax-config.js', 'assets/mimflow/tex-svg.js' if mj else MATHJAX_CDN]}
    with tempfile.TemporaryDirectory() as d:
        (Path(d)/'mkdocs.yml').write_text(yaml.safe_dump(conf, sort_keys=False))
        r = subprocess.run([Path(sys.executable).parent/'mkdocs', 'build', '-q', '-f', str(Path(d)/'mkdocs.yml')], cwd=root,
                           env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
    if r.returncode: sys.exit(f'mkdocs build failed ({r.returncode})')
    for n in dict.fromkeys(NOTES): print('docs: note:', n)
    if not mj: print(f'docs: django-static-mathjax is not installed: pages load MathJax from {MATHJAX_CDN}')
    return infos

# ---------------------------------------------------------------------------------------------- checks
_VOID = {'br', 'img', 'hr', 'input', 'meta', 'link', 'source', 'area', 'base', 'col', 'embed', 'param', 'track', 'wbr'}

class _Page(html.parser.HTMLParser):
    "Ids, links, output images, tables outside a scrolling container, blank table-of-contents entries, code spans outside links, and the text of one built page."
    SCROLL = {'jp-OutputArea-output', 'jp-RenderedMarkdown', 'md-typeset__table'}
    def __init__(self):
        super().__init__(); self.ids, self.hrefs, self.images, self.bare_tables, self.blank_toc = set(), [], 0, 0, 0
        self.stack, self.code_outside_links, self.text, self._toc_text = [], [], [], None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get('class') or '').split()
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and a.get('href'): self.hrefs.append(a['href'])
        if tag == 'div' and ('jp-RenderedImage' in cls or 'jp-RenderedSVG' in cls): self.images += 1
        if tag == 'table' and not any(self.SCROLL & set(c) for _, c in self.stack): self.bare_tables += 1
        if tag == 'a' and 'md-nav__link' in cls and any('md-nav--secondary' in c for _, c in self.stack): self._toc_text = ''
        if tag not in _VOID: self.stack.append((tag, cls))
    def handle_endtag(self, tag):
        if tag == 'a' and self._toc_text is not None:
            if not self._toc_text.strip(): self.blank_toc += 1
            self._toc_text = None
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag: break
    def handle_data(self, data):
        if self._toc_text is not None: self._toc_text += data
        tags = [t for t, _ in self.stack]
        if 'code' in tags and 'a' not in tags and 'pre' not in tags: self.code_outside_links.append(data)
        if not {'script', 'style'} & set(tags): self.text.append(data)

def parse_page(p: Path) -> _Page:
    pg = _Page(); pg.feed(p.read_text(encoding='utf-8')); return pg

def n_images(nb: dict) -> int:
    "Image outputs (image/png, image/svg+xml) of the notebook's code cells."
    return sum(1 for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []) or []
               if {'image/png', 'image/svg+xml'} & set(o.get('data', {})))

def check(root: Path = ROOT, infos: dict|None = None) -> list[str]:
    "Problems: notebooks without a page, pages missing an exported name or a figure, links to missing pages or anchors."
    from nbdev.doclinks import nbglob
    site, problems = root/'_site', []
    if infos is None:
        infos = {}
        for f in sorted((root/'_proc').glob('**/*.ipynb')):
            rel = f.relative_to(root/'_proc'); infos[rel.as_posix()] = nb_info(json.loads(f.read_text()), rel)
    parsed, chapters = {}, {Path(r).with_suffix('').as_posix() for r in infos}
    for nb in sorted(nbglob(str(root/'nbs'), as_path=True)):
        rel = nb.relative_to(root/'nbs').as_posix()
        info = infos.get(rel)
        page = site/info['page'] if info else None
        if not page or not page.exists(): problems.append(f'{rel}: no page' + (f' {info["page"]}' if info else '')); continue
        text = nb.read_text(encoding='utf-8')
        parsed[info['page']] = pg = parse_page(page)
        if (want := n_images(json.loads(text))) > pg.images:
            problems.append(f'{rel}: its page {info["page"]} shows {pg.images} of its {want} figures')
        if pg.bare_tables: problems.append(f'{rel}: {pg.bare_tables} table(s) on {info["page"]} outside a scrolling container')
        if pg.blank_toc: problems.append(f'{rel}: {pg.blank_toc} blank table-of-contents entries on {info["page"]}')
        if refs := sorted({c for c in pg.code_outside_links if _chapter_ref_re.fullmatch(f'`{c}`') and c in chapters}):
            problems.append(f'{rel}: chapter references that are not links on {info["page"]}: {refs}')
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', text)
        if not m: continue
        html_ = page.read_text(encoding='utf-8')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')                          # third-party deprecations on import: not ours
            mod = importlib.import_module(f'mimflow.{m.group(1)}')
        names = [n for n in getattr(mod, '__all__', []) if callable(getattr(mod, n))]   # show_doc documents callables
        if missing := [n for n in names if n not in html_]: problems.append(f'{rel}: page lacks {missing}')
        shown = re.sub(r'\s+', ' ', ''.join(pg.text))
        for n in names:                                              # a docstring's `*` (a formula's product) shows as `*`
            doc = re.sub(r'`[^`]*`', '', (getattr(getattr(mod, n), '__doc__', None) or '').split('\n')[0])   # code spans keep their `*`
            if '*' in doc and doc.split('*')[0][-12:] + '*' not in shown:
                problems.append(f'{rel}: the docstring of {n} lost a `*` on {info["page"]}')
    for page, pg in parsed.items():                  # links between pages
        bad = set()
        for h in pg.hrefs:
            if re.match(r'^[a-z][\w+.-]*:', h) or h.startswith(('//', 'mailto:')): continue
            path, _, anchor = h.partition('#')
            if path and not path.endswith('.html'): continue       # assets, folders
            target = (site/Path(page).parent/path).resolve() if path else site/page
            tp = target.relative_to(site.resolve()).as_posix() if path and target.is_relative_to(site.resolve()) else page
            if path and not target.exists(): bad.add(h); continue
            if anchor:
                ids = parsed[tp].ids if tp in parsed else (parse_page(target).ids if target.exists() else set())
                if anchor not in ids: bad.add(h)
        if bad: problems.append(f'{page}: broken links {sorted(bad)[:10]}' + (f' and {len(bad) - 10} more' if len(bad) > 10 else ''))
    return problems

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='check pages: exported names, figures, links between pages')
    ap.add_argument('--root', type=Path, default=ROOT, help='project folder to build (default: this checkout)')
    a = ap.parse_args()
    root = a.root.resolve()
    infos = build(root)
    print(f'docs: site built in {root/"_site"} ({len(infos)} pages)')
    if a.check:
        probs = check(root, infos)
        for p in probs: print('docs check:', p)
        if probs: sys.exit(1)
        print('docs check: every notebook has a page with its exported names and all its figures; links between pages resolve')
