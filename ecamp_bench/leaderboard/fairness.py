"""Fairness, calibration and cost tables of the leaderboard, built from the records alone.

- **Fairness table**, one per (protocol, preset, task) whose records hold subgroup or calibration metrics: one row
  per (row label, fraction), the columns the task's primary metric, every subgroup value (``auc[sex=F]``, …), the
  gap per axis with the largest p-value over seeds (``max p``), then ``ece`` and ``brier``. Cells are means over
  seeds; a subgroup too small on the test set shows ``too small`` (never a number). The rows are the main tables'
  rows: the run identities and labels of :func:`~ecamp_bench.leaderboard.aggregate.assign_rows`, and per seed the
  record that counts there (:func:`~ecamp_bench.leaderboard.aggregate.latest_per_seed`), so runs that are not the
  same run (another weights file, setup, task config or data set) are never averaged in one row.
- **Reliability diagrams**: the PNG of the lowest seed of each row (``<run_key>.reliability.png``).
- **Cost table** (``leaderboard --cost``): per backbone and architecture, the parameter count, GFLOPs per image at
  the input size, and the feature-extraction images/s on each device a record names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from ecamp_bench.leaderboard.aggregate import format_fraction

TOO_SMALL = "too small"
_SUBGROUP = re.compile(r"^[a-z0-9_]+\[(sex|age)=[^\]]+\]$")
_GAP = re.compile(r"^[a-z0-9_]+_gap(_p)?\[(sex|age)\]$")
CALIBRATION = ("ece", "brier")


def fairness_metric(name: str) -> bool:
    """Whether a metric belongs in the fairness table (subgroups, gaps, macro calibration)."""
    return bool(_SUBGROUP.match(name) or _GAP.match(name)) or name in CALIBRATION


@dataclass
class FairnessRow:
    """One (row label, fraction): metric → values over seeds; the reliability diagram of its lowest seed."""

    backbone: str  # the row label of the main tables (aggregate.assign_rows)
    fraction: float
    values: dict[str, list[float | None]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    reliability: Path | None = None


@dataclass
class FairnessTable:
    """The fairness table of one (protocol, preset, task), keyed like the main tables' cells (protocol and task
    versions, published split too); the title names those only where they tell two tables apart."""

    protocol: str
    preset: str
    task: str
    columns: list[str]
    rows: list[FairnessRow]
    protocol_version: int = 1
    task_version: int = 1
    split: str = ""  # a published split's name; "" = our own seeded split
    show_protocol_version: bool = False  # set when another version of the protocol has a table of the same task

    @property
    def title(self) -> str:
        """``chexpert-cls — linear (preset tiny)``; ``rsna-cls@v2 [mrm split] — linear v2`` where needed."""
        task = self.task + (f"@v{self.task_version}" if self.task_version != 1 else "")
        task += f" [{self.split} split]" if self.split else ""
        protocol = self.protocol + (f" v{self.protocol_version}" if self.show_protocol_version else "")
        return f"{task} — {protocol}" + (f" (preset {self.preset})" if self.preset != "default" else "")


def _order(names: set[str], primary: str) -> list[str]:
    """Primary, then per axis its groups (fixed order), gap and gap p-value, then ece and brier; others last."""
    from ecamp_bench.evaluation.subgroups import AGE_BANDS, SEX_GROUPS, gap_key, gap_p_key, key

    wanted = [primary]
    for axis, groups in (("sex", SEX_GROUPS), ("age", tuple(band for band, _, _ in AGE_BANDS))):
        wanted += [key(primary, axis, g) for g in groups] + [gap_key(primary, axis), gap_p_key(primary, axis)]
    wanted += list(CALIBRATION)
    return [n for n in wanted if n in names] + sorted(names - set(wanted))


def fairness_tables(records, rows: list[dict] | None = None) -> list[FairnessTable]:
    """The fairness tables of ``records`` (``(path, ResultRecord)`` pairs), sorted by protocol, preset, task.

    ``rows``: the tidy rows of the same records (:func:`ecamp_bench.results.store.tidy_rows`) when the caller already
    has them. The rows of a table are the main tables' rows (:func:`~ecamp_bench.leaderboard.aggregate.assign_rows`)
    at each fraction, each seed from the record that counts for it there
    (:func:`~ecamp_bench.leaderboard.aggregate.latest_per_seed`).
    """
    from ecamp_bench.evaluation.classification_extras import reliability_path
    from ecamp_bench.leaderboard.aggregate import assign_rows, latest_per_seed

    if rows is None:
        from ecamp_bench.results.store import ScanResult, tidy_rows

        rows = tidy_rows(ScanResult(records=list(records)))
    metrics_of: dict[str, list[dict]] = {}  # record file → its tidy rows (one per metric, in the record's order)
    for row in rows:
        metrics_of.setdefault(row["file"], []).append(row)
    latest, _ = latest_per_seed(assign_rows(rows))
    grouped: dict[tuple, dict[tuple, FairnessRow]] = {}
    primaries: dict[tuple, str] = {}
    for key, primary in sorted(latest.items(), key=lambda kv: (kv[0].cell, kv[0].row, kv[0].seed)):
        wanted = [m for m in metrics_of[primary["file"]] if fairness_metric(m["metric"])]
        if not wanted:
            continue
        cell_key = key.cell
        table_key = (cell_key.table, cell_key.task, cell_key.task_version, cell_key.split)
        primaries[table_key] = cell_key.metric
        row = grouped.setdefault(table_key, {}).setdefault(
            (key.row, cell_key.fraction), FairnessRow(key.row, cell_key.fraction)
        )
        for m in [primary, *wanted]:
            row.values.setdefault(m["metric"], []).append(m["value"])
        row.seeds.append(key.seed)
        path = reliability_path(Path(primary["file"]))
        if key.seed == min(row.seeds) and path.is_file():
            row.reliability = path
    tables = []
    for table_key, by_row in sorted(grouped.items()):
        table, task, task_version, split = table_key
        names = {name for row in by_row.values() for name in row.values}
        ordered = [r for _, r in sorted(by_row.items())]
        tables.append(FairnessTable(table.protocol, table.preset, task, _order(names, primaries[table_key]), ordered,
                                    table.protocol_version, task_version, split))
    versions: dict[tuple, set[int]] = {}
    for t in tables:
        versions.setdefault((t.protocol, t.preset, t.task, t.task_version, t.split), set()).add(t.protocol_version)
    for t in tables:
        t.show_protocol_version = len(versions[(t.protocol, t.preset, t.task, t.task_version, t.split)]) > 1
    return tables


def cell(values: list[float | None] | None, column: str) -> str:
    """A table cell: mean over seeds (3 decimals), ``max p`` for p-values, ``too small`` for an unscored subgroup."""
    if not values:
        return "—"
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return TOO_SMALL if "=" in column else "—"
    if "_gap_p[" in column:
        return f"{max(finite):.2g}"
    text = f"{sum(finite) / len(finite):.3f}"
    return text + ("*" if len(finite) < len(values) else "")


def column_label(column: str) -> str:
    """Header text: the record's key (a p-value column holds the largest p over seeds, as the legends say)."""
    return column


FAIRNESS_LEGEND = (
    f"Means over seeds; `{TOO_SMALL}`: fewer than 20 positives of some label in that subgroup of the test set; "
    "`*`: some seeds too small; gap = largest difference between scored subgroups, `_gap_p` its bootstrap "
    "p-value (largest over seeds); ece = 15 equal-mass bins."
)
COST_LEGEND = ("GFLOPs counted by torch's FlopCounterMode (multiply-add = 2) at the input size; images/s: "
               "encoder forward on random batches of 16 on that device, wall clock.")


def fairness_grid(table: FairnessTable) -> tuple[list[str], list[list[str]]]:
    """One fairness table as a header and text rows (backbone, fraction, one cell per column)."""
    header = ["backbone", "fraction", *(column_label(c) for c in table.columns)]
    rows = [[row.backbone, format_fraction(row.fraction), *(cell(row.values.get(c), c) for c in table.columns)]
            for row in table.rows]
    return header, rows


def fairness_markdown(tables: list[FairnessTable]) -> str:
    """All fairness tables as markdown (empty string when there are none)."""
    if not tables:
        return ""
    out = ["## Fairness and calibration", "", FAIRNESS_LEGEND, ""]
    for table in tables:
        header, rows = fairness_grid(table)
        out += [f"### {table.title}", "", "| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * len(table.columns)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out.append("")
    return "\n".join(out) + "\n"


def rich_sections(tables: list[FairnessTable], costs: list[CostRow]) -> list:
    """The fairness and cost sections for a terminal: tables (:class:`~ecamp_bench.leaderboard.render.LabelledTable`:
    texts are data, never rich markup; row labels never cut), each section's legend after its tables (the markdown
    forms are for files)."""
    from rich.text import Text

    from ecamp_bench.leaderboard.render import LabelledTable

    out: list = [LabelledTable(f"fairness and calibration: {t.title}", *fairness_grid(t), keys=2) for t in tables]
    if tables:
        out.append(Text(FAIRNESS_LEGEND.replace("`", "")))
    if costs:
        out += [LabelledTable("cost", list(COST_HEADERS), [_cost_cells(r) for r in costs]), Text(COST_LEGEND)]
    return out


def fairness_html(tables: list[FairnessTable]) -> str:
    """The report's fairness section: a table per task and the reliability diagrams (inline PNGs)."""
    import base64

    if not tables:
        return ""
    parts = [
        '<section id="fairness"><h2>Fairness and calibration</h2>',
        (
            f'<p class="legend">Means over seeds; <i>{TOO_SMALL}</i>: fewer than 20 positives of some label in that '
            "subgroup of the test set (never shown as a number); * some seeds too small; gap = largest difference "
            "between the scored subgroups, p = bootstrap test of no gap (largest over seeds); ece = expected "
            "calibration error over 15 equal-mass bins, brier = mean squared error of the probabilities "
            "(lower is better).</p>"
        ),
    ]
    for table in tables:
        head = "".join(f"<th>{escape(column_label(c))}</th>" for c in table.columns)
        parts.append(f"<h3>{escape(table.title)}</h3>")
        parts.append('<div class="wide"><table class="fairness"><thead><tr><th>backbone</th><th>fraction</th>')
        parts.append(f"{head}</tr></thead><tbody>")
        for row in table.rows:
            cells = "".join(f'<td class="num">{escape(cell(row.values.get(c), c))}</td>' for c in table.columns)
            parts.append(
                f'<tr><th>{escape(row.backbone)}</th><td class="num">{format_fraction(row.fraction)}</td>{cells}</tr>'
            )
        parts.append("</tbody></table></div>")
        figures = [r for r in table.rows if r.reliability is not None]
        if figures:
            parts.append('<div class="plots">')
            for row in figures:
                data = base64.b64encode(row.reliability.read_bytes()).decode("ascii")
                caption = f"reliability: {row.backbone}, {format_fraction(row.fraction)}, seed {min(row.seeds)}"
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}" width="368">'
                    f"<figcaption>{escape(caption)}</figcaption></figure>"
                )
            parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


@dataclass(frozen=True)
class CostRow:
    """One backbone's cost on one device."""

    backbone: str
    arch: str
    device: str
    params: int | None
    gflops: float | None
    images_per_s: float | None
    input_size: int | None


def cost_rows(records) -> list[CostRow]:
    """One row per (backbone, architecture tag, device) over the ok records that carry a cost (newest wins)."""
    from ecamp_bench.results.store import arch_tag

    rows: dict[tuple, tuple[str, CostRow]] = {}
    for _, rec in records:
        cost = rec.cost or {}
        if not rec.ok or "params" not in cost:
            continue
        key = (rec.backbone.name, arch_tag(rec), str(cost.get("device", "?")))
        row = CostRow(
            rec.backbone.name,
            key[1],
            key[2],
            cost.get("params"),
            cost.get("gflops"),
            cost.get("images_per_s"),
            cost.get("input_size"),
        )
        stamp = rec.timing.finished_at or ""
        if key not in rows or stamp >= rows[key][0]:
            rows[key] = (stamp, row)
    return [row for _, (_, row) in sorted(rows.items())]


def _cost_cells(row: CostRow) -> list[str]:
    return [
        row.backbone,
        row.arch,
        row.device,
        "—" if row.params is None else f"{row.params / 1e6:.2f}",
        "—" if row.gflops is None else f"{row.gflops:.3g}",
        "—" if row.images_per_s is None else f"{row.images_per_s:.1f}",
    ]


COST_HEADERS = ("backbone", "architecture", "device", "params (M)", "GFLOPs / image", "images/s (wall clock)")


def cost_markdown(rows: list[CostRow]) -> str:
    """The cost table as markdown (empty string without rows)."""
    if not rows:
        return ""
    out = [
        "## Cost",
        "",
        COST_LEGEND,
        "",
        "| " + " | ".join(COST_HEADERS) + " |",
        "|---|---|---|---:|---:|---:|",
    ]
    out += ["| " + " | ".join(_cost_cells(r)) + " |" for r in rows]
    return "\n".join(out) + "\n"


def cost_html(rows: list[CostRow]) -> str:
    """The report's cost section (empty string without rows)."""
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in COST_HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in _cost_cells(r)) + "</tr>" for r in rows)
    return (
        '<section id="cost"><h2>Cost</h2><p class="legend">GFLOPs counted by torch\'s FlopCounterMode '
        "(multiply-add = 2) at the input size; images/s: encoder forward on random batches of 16, wall clock.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )
