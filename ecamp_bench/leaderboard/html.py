"""The HTML report: ONE self-contained file (inline CSS, plots as base64 PNGs, no scripts, no external links).

One section per protocol table: protocol and dataset notes (layout, synthetic or real, data version, test
size), the table (best per column bold, ``†`` when significantly better than the runner-up), optional
reference rows in a separate block marked "reported, not re-run" with their sources, and the
label-efficiency plots of that protocol.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from ecamp_bench.leaderboard.aggregate import LeaderboardTable, Pivot
from ecamp_bench.leaderboard.plots import Plot
from ecamp_bench.leaderboard.reference import REPORTED, ReferenceRow, rows_for_table
from ecamp_bench.leaderboard.render import MISSING, cell_text, shown_best
from ecamp_bench.leaderboard.significance import MARK, Significance, legend
from ecamp_bench.leaderboard.training_noise import LEGEND as TRAINING_NOISE_LEGEND
from ecamp_bench.leaderboard.training_noise import MIN_TRAINING_RUNS
from ecamp_bench.results.record import ResultRecord

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;\
color:#1d232b;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #d7dde5;padding-bottom:.2rem}
.meta,.notes,.legend,.sources{color:#4a5563;font-size:.9rem}
table{border-collapse:collapse;margin:.8rem 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d7dde5;padding:.3rem .6rem}th{background:#f2f5f8;text-align:left}
td.num{text-align:right;white-space:nowrap}td.best{font-weight:700;background:#e8f6ec}
tbody.reference td,tbody.reference th{background:#fbf7ec;color:#5b4a1e;font-style:italic}
tbody.reference tr.divider th{background:#f3e8c8;font-style:normal}
.badge{display:inline-block;font-size:.75rem;font-style:normal;border:1px solid #c9a94f;border-radius:3px;\
padding:0 .3rem;margin-left:.4rem}
.wide{overflow-x:auto}.warn{color:#8a3b00}.plots{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}\
figcaption{font-size:.85rem;color:#4a5563}
"""


@dataclass
class ReportInputs:
    """Everything the report shows besides the pivot (all optional)."""

    significance: dict[tuple[int, int], Significance] = field(default_factory=dict)
    references: list[ReferenceRow] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    dataset_notes: dict[tuple[str, int, str], list[str]] = field(default_factory=dict)
    synthetic: dict[tuple[str, int, str], bool] = field(default_factory=dict)
    protocol_notes: dict[str, str] = field(default_factory=dict)
    generated_at: str = ""
    n_records: int = 0
    probe_html: str = ""  # the pre-training probe section (leaderboard/probe_plot.py), "" when no run logged one
    fairness_html: str = ""  # fairness/calibration tables and reliability diagrams (leaderboard/fairness.py)
    cost_html: str = ""  # the cost table (leaderboard --cost)
    run_note: str = ""  # the hardware and presets of a `make demo` run (ecamp_bench.demo.header_text)


def dataset_notes(
    records: list[tuple[Path, ResultRecord]],
) -> tuple[dict[tuple[str, int, str], list[str]], dict[tuple[str, int, str], bool]]:
    """Per table key ``(protocol, version, preset)``: one note per distinct dataset, and whether any is synthetic.

    Everything comes from the records (the synthetic generator's marker is copied into ``dataset`` at run
    time), so the report renders from a results folder with no dataset next to it.
    """
    from ecamp_bench.data.synth.generate import marker_size

    notes: dict[tuple[str, int, str], list[str]] = {}
    synthetic: dict[tuple[str, int, str], bool] = {}
    for _, rec in records:
        if not rec.ok:
            continue
        key = (rec.protocol.name, rec.protocol.version, rec.preset)
        dataset = rec.dataset
        marker = dataset.get("synthetic_marker")
        is_synthetic = bool(dataset.get("synthetic")) or bool(marker)
        if isinstance(marker, dict):
            kind = (
                f"SYNTHETIC (generator v{marker.get('generator_version', '?')}, size {marker_size(marker) or '?'}, "
                f"seed {marker.get('seed', '?')})"
            )
        else:
            kind = "synthetic" if is_synthetic else "real data"
        version = Path(dataset["root"]).name if dataset.get("root") else "?"
        text = (f"{rec.task.name} v{rec.task.version}: layout {dataset.get('layout', '?')} ({version}), {kind}; "
                f"{dataset.get('n_images', '?')} images, test set {rec.split.n_test}")
        if text not in notes.setdefault(key, []):
            notes[key].append(text)
        synthetic[key] = synthetic.get(key, False) or is_synthetic
    return notes, synthetic


def _source_text(ref: ReferenceRow) -> str:
    return ref.source + (f" ({ref.note})" if ref.note else "")


def _footnote(references: list[ReferenceRow], ref: ReferenceRow) -> int:
    """1-based number of ``ref``'s source (+ note) among the distinct sources of all reference rows."""
    distinct = list(dict.fromkeys(_source_text(r) for r in references))
    return distinct.index(_source_text(ref)) + 1


def _table_html(index: int, table: LeaderboardTable, inputs: ReportInputs) -> str:
    key = (table.protocol, table.protocol_version, table.preset)
    head = "".join(f"<th>{escape(c.label)}</th>" for c in table.columns)
    lines = [f'<table class="leaderboard" id="table-{index}"><thead><tr><th>backbone</th>{head}</tr></thead><tbody>']
    for backbone in table.backbones:
        cells = []
        for col in range(len(table.columns)):
            cell = table.cells.get((backbone, col))
            text = cell_text(cell)
            sig = inputs.significance.get((index, col))
            mark = (MARK if cell is not None and cell.best and sig is not None and sig.significant
                    and sig.best == backbone else "")
            title = ""
            if cell is not None and cell.best and sig is not None and sig.best == backbone:
                p = sig.max_p
                title = (f' title="vs {escape(sig.runner_up)}: '
                         + (f"max p = {p:.3g}" if p is not None else escape(sig.reason or "untested")) + '"')
            css = "num best" if shown_best(cell) else "num"
            cells.append(f'<td class="{css}"{title}>{escape(text)}{mark}</td>')
        lines.append(f"<tr><th>{escape(backbone)}</th>{''.join(cells)}</tr>")
    lines.append("</tbody>")
    references = rows_for_table(table, inputs.references)
    if references:
        warning = (" The rows above were measured on SYNTHETIC data: do not compare them with these."
                   if inputs.synthetic.get(key) else "")
        lines.append('<tbody class="reference">')
        lines.append(f'<tr class="divider"><th colspan="{len(table.columns) + 1}">Published numbers — {REPORTED} '
                     f"(real datasets, each paper's own splits and models).{escape(warning)}</th></tr>")
        for label, values, sources in references:
            refs = ", ".join(f"[{n}]" for n in sorted({_footnote(inputs.references, s) for s in sources}))
            cells = "".join(
                f'<td class="num">{values[c]:.3f}</td>' if c in values else f'<td class="num">{MISSING}</td>'
                for c in range(len(table.columns))
            )
            lines.append(f'<tr><th>{escape(label)}<span class="badge">{REPORTED}</span> {escape(refs)}</th>'
                         f'{cells}</tr>')
        lines.append("</tbody>")
    lines.append("</table>")
    return "\n".join(lines)


def _section(index: int, table: LeaderboardTable, inputs: ReportInputs) -> str:
    key = (table.protocol, table.protocol_version, table.preset)
    parts = [f'<section id="protocol-{index}"><h2>{escape(table.title)}</h2>']
    description = inputs.protocol_notes.get(table.protocol)
    parts.append(
        f'<p class="notes"><b>Protocol</b> {escape(table.protocol)} v{table.protocol_version}'
        f"{', preset ' + escape(table.preset) if table.preset != 'default' else ' (published hyper-parameters)'}"
        f"{': ' + escape(description) if description else ''}</p>"
    )
    notes = inputs.dataset_notes.get(key, [])
    if notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in notes)
        parts.append(f'<div class="notes"><b>Data</b><ul>{items}</ul></div>')
    if inputs.synthetic.get(key):
        parts.append('<p class="warn">Measured on synthetic data: these numbers test the pipeline, not clinical '
                     'performance.</p>')
    parts.append(_table_html(index, table, inputs))
    legend_items = [f"Cells: mean ± sample std over seeds (n = seeds); bold = best per column (means over 2 or more "
                    f"seeds); {MISSING} = no run."]
    if any(c.short for c in table.cells.values()):
        legend_items.append(f"* fewer seeds than the {table.expected_n} of the most complete cell.")
    if any(c.mean is not None and c.n < MIN_TRAINING_RUNS for c in table.cells.values()):
        legend_items.append(TRAINING_NOISE_LEGEND)
    legend_items.append(legend())
    parts.append('<p class="legend">' + " ".join(escape(x) for x in legend_items) + "</p>")
    used = {_footnote(inputs.references, s): s
            for _, _, sources in rows_for_table(table, inputs.references) for s in sources}
    if used:
        items = "".join(f'<li value="{n}">{escape(_source_text(s))}</li>' for n, s in sorted(used.items()))
        parts.append(f'<ol class="sources">{items}</ol>')
    figures = [p for p in inputs.plots if p.table_index == index]
    if figures:
        parts.append('<div class="plots">')
        for plot in figures:
            data = base64.b64encode(plot.png).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{escape(plot.title)}" width="572">'
                f"<figcaption>{escape(plot.title)} (results/plots/{escape(plot.filename)})</figcaption></figure>"
            )
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def to_html(pivot: Pivot, inputs: ReportInputs | None = None) -> str:
    """The whole report as one HTML string."""
    inputs = inputs or ReportInputs()
    toc = "".join(f'<li><a href="#protocol-{i}">{escape(t.title)}</a></li>' for i, t in enumerate(pivot.tables))
    body = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ecamp-bench leaderboard</title><style>{CSS}</style></head><body>", "<h1>ecamp-bench leaderboard</h1>",
        f'<p class="meta">{inputs.n_records} result records'
        f"{', generated ' + escape(inputs.generated_at) if inputs.generated_at else ''}. "
        "One table per protocol: numbers from different protocols are never mixed. Each task's primary metric.</p>",
    ]
    if inputs.run_note:
        body.append(f'<p class="meta"><strong>{escape(inputs.run_note)}</strong></p>')
    if not pivot.tables:
        body.append("<p><em>No result records yet: run <code>ecamp-bench eval</code> or "
                    "<code>ecamp-bench sweep</code>.</em></p>")
    else:
        body.append(f"<nav><ul>{toc}</ul></nav>")
    body += [_section(i, t, inputs) for i, t in enumerate(pivot.tables)]
    body += [part for part in (inputs.fairness_html, inputs.cost_html, inputs.probe_html) if part]
    if pivot.notes:
        body.append('<details class="notes"><summary>Superseded records</summary><ul>'
                    + "".join(f"<li>{escape(n)}</li>" for n in pivot.notes) + "</ul></details>")
    body.append("</body></html>")
    return "\n".join(body) + "\n"


def header_text(folder: Path) -> str:
    """The demo's hardware/preset sentence for the header (``ecamp_bench.demo``), "" outside a demo run."""
    from ecamp_bench.demo import header_text as demo_header

    return demo_header(folder)


def build_report(
    folder: Path, catalog=None, *, references: Path | None = None, plots_dir: Path | None = None,
    n_bootstrap: int = 1000, scanned=None, marks: dict | None = None, cost: bool = False,
) -> tuple[str, list[Path]]:
    """Scan ``folder/runs``, aggregate, test significance, draw the plots (saved under ``plots_dir``), and
    return ``(html, plot paths)``; ``references`` is an optional reference-row YAML file.

    Everything comes from the results folder (records and saved predictions): no dataset is opened and no
    task implementation imported. ``catalog`` (optional) only supplies the protocols' descriptions.

    A caller that has already scanned the folder and tested significance on that scan (the CLI, for the
    markdown written beside the report) passes ``scanned`` and ``marks`` so neither is done twice. ``cost`` adds the
    cost table; the fairness section (subgroups, calibration, reliability diagrams) is always there when records
    hold those metrics.
    """
    from ecamp_bench.leaderboard.aggregate import pivot as make_pivot
    from ecamp_bench.leaderboard.fairness import cost_html, cost_rows, fairness_html, fairness_tables
    from ecamp_bench.leaderboard.plots import label_efficiency_plots, save_plots
    from ecamp_bench.leaderboard.probe_plot import probe_section
    from ecamp_bench.leaderboard.reference import load_references
    from ecamp_bench.leaderboard.significance import significance
    from ecamp_bench.models.checkpoints import utc_now
    from ecamp_bench.results.store import scan, tidy_rows

    scanned = scanned if scanned is not None else scan(folder)
    rows = tidy_rows(scanned)
    table = make_pivot(rows)
    notes, synthetic = dataset_notes(scanned.records)
    protocol_notes = {}
    for name in {t.protocol for t in table.tables}:
        try:
            protocol_notes[name] = catalog.protocol(name).description if catalog is not None else ""
        except Exception:  # a protocol from a plugin that is not installed: no description, the table still renders
            protocol_notes[name] = ""
    plots = label_efficiency_plots(table)
    paths = save_plots(plots, plots_dir if plots_dir is not None else Path(folder) / "plots")
    probe_html, probe_paths = probe_section(folder, plots_dir if plots_dir is not None else Path(folder) / "plots")
    inputs = ReportInputs(
        significance=marks if marks is not None else significance(table, rows, n_bootstrap=n_bootstrap),
        references=load_references(references) if references is not None else [],
        plots=plots, dataset_notes=notes, synthetic=synthetic, protocol_notes=protocol_notes,
        generated_at=utc_now(), n_records=len(scanned.records), probe_html=probe_html,
        fairness_html=fairness_html(fairness_tables(scanned.records, rows)),
        cost_html=cost_html(cost_rows(scanned.records)) if cost else "",
        run_note=header_text(folder),
    )
    return to_html(table, inputs), paths + probe_paths
