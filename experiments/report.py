#!/usr/bin/env python
"""Tables from the committed result files, so that every reported number exists once: in a result file.

    python experiments/report.py            # print every table as markdown
    python experiments/report.py --readme   # rewrite the tables in README.md between their <!-- table:NAME --> markers
    python experiments/report.py --check    # exit 1 if README.md's tables differ from the result files

The chapters (`nbs/experiments/*.ipynb`, `nbs/index.ipynb`) call the same functions.
"""
from __future__ import annotations
import argparse, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TITLES = dict(mimflow='MIMFlow (joint, masked)', pixel_tarflow='pixel-space TarFlow', two_stage='two-stage (autoencoder, then flow)',
              no_mask='MIMFlow without masking', pixel_tarflow_wall='pixel-space TarFlow, same wall time',
              mimflow_phase2='MIMFlow + phase-2 decoder fine-tune')
FASHION_TITLES = {**TITLES, 'mimflow': 'MIMFlow without phase 2'}       # there, the preset's model has a phase 2 and this is its ablation
# (result key, column title, decimals, which mean is best: min, max, or None where the rows do not compare)
COLUMNS = [('fid_domain', 'FID-domain ↓', 2, min), ('class_acc', 'class acc ↑', 3, max), ('probe_top1', 'probe top-1 ↑', 3, max),
           ('latent_bpd', 'bpd', 3, None), ('recon_psnr', 'recon PSNR (dB)', 1, max)]      # bpd: pixels and latents differ

def _cell(d: dict, k: str, nd: int, best: bool) -> str:
    if k not in d: return 'n/a'
    s = f"{d[k]['mean']:.{nd}f}" + (f" ± {d[k]['std']:.{nd}f}" if len(d[k]['values']) > 1 else '')     # one seed: no spread to show
    return f'**{s}**' if best else s

FASHION_COLUMNS = [('fid_domain', 'FID-domain ↓', 2, min), ('fid_detail', 'FID-detail ↓', 3, min), ('class_acc', 'class acc ↑', 3, max),
                   ('probe_top1', 'probe top-1 ↑', 3, max), ('recon_fid', 'decoder floor ↓', 2, min), ('recon_psnr', 'recon PSNR (dB)', 1, max)]

FASHION_MORE = [('latent_bpd', 'bits/dim', 3, None), ('recon_fid_detail', 'floor, FID-detail ↓', 3, min), ('samples_per_s', 'samples/s ↑', 1, max)]

def comparison_rows(results: Path, columns: list|None = None, seeds: bool = False, titles: dict|None = None) -> tuple[list[str], list[list[str]]]:
    "Header and rows (mean ± std over seeds) of a comparison's summary.json, `columns` as in `COLUMNS`; the best mean of each column in bold, and with `seeds` a column of how many seeds each row has."
    columns, titles = columns or COLUMNS, titles or TITLES
    summary = json.loads((Path(results)/'summary.json').read_text())
    best = {}
    for k, _, _, pick in columns:
        vals = {v: d[k]['mean'] for v, d in summary.items() if k in d}
        if vals and pick: best[k] = pick(vals, key=vals.get)
    header = ['variant'] + (['seeds'] if seeds else []) + ['params', 'steps', 'train time (s)'] + [name for _, name, _, _ in columns]
    rows = []
    for v, d in summary.items():
        cells = [titles.get(v, v)] + ([str(d['n_seeds'])] if seeds else []) + [f"{d['trainable_params'] / 1e6:.2f}M", f"{d['steps']:,.0f}", f"{d['train_time_s']:,.0f}"]
        for k, _, nd, _ in columns:
            c = _cell(d, k, nd, best.get(k) == v)
            if k == 'latent_bpd' and v.startswith('pixel') and c != 'n/a': c += ' (pixels)'
            cells.append(c)
        rows.append(cells)
    return header, rows

def markdown(header: list[str], rows: list[list[str]]) -> str:
    num = lambda c: re.match(r'^\*{0,2}-?[\d.,]+', c) is not None or c == 'n/a'        # numbers right, words left
    align = ['---:' if i and all(num(r[i]) for r in rows) else '---' for i in range(len(header))]
    return '\n'.join('| ' + ' | '.join(r) + ' |' for r in [header, align, *rows])

def default_run_rows(metrics: Path) -> tuple[list[str], list[list[str]]]:
    "The default run's metrics (`mimflow train` on the digits), from its committed metrics file."
    m = json.loads(Path(metrics).read_text())
    what = dict(class_acc='share of samples drawn for class c that the digits classifier assigns to c',
                fid_domain="Fréchet distance to the training digits in that classifier's 64-d feature space",
                recon_psnr='decoder output from the noisy latent vs the held-out image (dB)',
                probe_top1="linear probe on the frozen encoder's mean-pooled features, held-out digits",
                latent_bpd="the flow's bits per latent dimension on held-out noisy latents",
                domain_classifier_acc="the digits classifier's own held-out accuracy")
    fmt = dict(class_acc='.3f', fid_domain='.2f', recon_psnr='.1f', probe_top1='.3f', latent_bpd='.2f', domain_classifier_acc='.3f')
    return ['metric', 'value', 'what it is'], [[f'`{k}`', f'{m[k]:{fmt[k]}}', what[k]] for k in what if k in m]

def scale_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    "The reproduction path on an image folder (`experiments/scale_path.py`): what each stage took."
    r = json.loads(Path(path).read_text())
    it, m, z = r['interrupted'], r['metrics'], r['npz']
    per_class = z['labels_per_class']
    per_class = f'{min(per_class)} per class' if min(per_class) == max(per_class) else f'{min(per_class)}-{max(per_class)} per class'
    wall = lambda d: f"{d['wall_s']:,.0f}" if d else 'n/a'
    peak = lambda d: f"{d['peak_mib']:,}" if d and d.get('peak_mib') else 'n/a'
    rows = [['write Fashion-MNIST as an image folder', wall(r.get('export')), peak(r.get('export')), f"{r['per_class']} training images per class"],
            ['train, 2 processes, killed after the first checkpoint', f"{it['after_s']:,.0f}", 'n/a', f"checkpoint at step {it['checkpoint_step']}"],
            ['resume, 2 processes', wall(r['resumed']), peak(r['resumed']),
             f"to step {r['final_step']}; loss {r['loss_first']:.3f} at the first step, {r['loss_last']:.3f} at the last"],
            ['evaluate, every class represented', wall(r['eval']), peak(r['eval']),
             f"class acc {m['class_acc']:.3f}, probe {m['probe_top1']:.3f}, PSNR {m['recon_psnr']:.1f} dB"],
            ['sample 1,000 to .npz, 2 processes', wall(r['sample_npz']), peak(r['sample_npz']),
             f"arr_0 {'x'.join(map(str, z['arr_0']))} {z['dtype']}, {per_class}"]]
    return ['stage', 'wall (s)', 'peak memory of a process (MiB)', 'result'], rows

def tune_rows(folder: Path, guidance: tuple = (0., 1., 2., 3.)) -> tuple[list[str], list[list[str]]]:
    """The tuning runs of the `small` preset (`experiments/tune_small.py`): how each differs from the preset as shipped,
    the decoder floor and the samples at several guidance weights, for its phase-1 and its phase-2 model."""
    from mimflow.config import small, flat_items, replace
    preset, seen, rows = flat_items(small()), {}, []
    header = ['run', 'differs from the preset in', 'phase', 'steps', 'floor FID ↓', 'PSNR (dB)'] + [f'w={w:g}: FID ↓ / class acc ↑' for w in guidance]
    for r in [json.loads(p.read_text()) for p in sorted(Path(folder).glob('*.json'))]:
        run = flat_items(replace(small(), **dict(x.split('=', 1) for x in r['sets'])))
        diff = [f'{k}={run[k]}'.replace('[]', 'none').replace('()', 'none') for k in preset if run[k] != preset[k] and k != 'phase2.run']
        what = (', '.join(diff) or 'none') + (f", seed {r['seed']}" if r['seed'] else '')
        name = r['name'].split('_')[0]
        for ph in ('phase1', 'phase2'):
            if ph not in r: continue
            d, key = r[ph], json.dumps(r[ph], sort_keys=True)
            if ph == 'phase1' and key in seen: rows.append([name, what, '1', f'the phase-1 model of {seen[key]}'] + [''] * (2 + len(guidance))); continue
            seen.setdefault(key, name)
            rows.append([name, what if ph == 'phase1' else '', ph[-1], f"{d['steps']:,}", f"{d['recon_fid']:.2f}", f"{d['recon_psnr']:.2f}"]
                        + [f"{d['guidance'][str(w)]['fid_domain']:.2f} / {d['guidance'][str(w)]['class_acc']:.3f}" for w in guidance])
    return header, rows

TABLES = {
    'default': lambda: markdown(*default_run_rows(ROOT/'experiments'/'results_default'/'metrics.json')),
    'digits': lambda: markdown(*comparison_rows(ROOT/'experiments'/'results')),
    'fashion': lambda: markdown(*comparison_rows(ROOT/'experiments'/'results_fashion', FASHION_COLUMNS, seeds=True, titles=FASHION_TITLES))
               if (ROOT/'experiments'/'results_fashion'/'summary.json').exists() else '*(the runs are under way)*',
    'scale': lambda: markdown(*scale_rows(ROOT/'experiments'/'results_scale'/'scale_path.json')),
    'tune': lambda: markdown(*tune_rows(ROOT/'experiments'/'results_tune')),
}

def fill(text: str) -> str:
    "`text` with every <!-- table:NAME --> ... <!-- /table --> block regenerated."
    def sub(m):
        name = m.group(1)
        if name not in TABLES: raise KeyError(f'unknown table {name!r} in README.md')
        return f'<!-- table:{name} -->\n{TABLES[name]()}\n<!-- /table -->'
    return re.sub(r'<!-- table:(\w+) -->.*?<!-- /table -->', sub, text, flags=re.S)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--readme', action='store_true'); p.add_argument('--check', action='store_true')
    a = p.parse_args()
    readme = ROOT/'README.md'
    if a.readme or a.check:
        old = readme.read_text(); new = fill(old)
        if a.check:
            if new != old: sys.exit('README.md tables are out of step with the result files: run python experiments/report.py --readme')
            print('README.md tables match the result files')
        else: readme.write_text(new); print('README.md tables regenerated')
    else:
        for name, f in TABLES.items():
            try: print(f'## {name}\n{f()}\n')
            except FileNotFoundError as e: print(f'## {name}\n(no results: {e})\n')
