"""Renderers: pure functions from a :class:`Pivot` (or tidy rows) to text. They never touch the runner.

- markdown: one GitHub pipe table per protocol; best per column in bold; ``—`` for a missing cell;
  ``(n=k)`` after every value, with ``*`` when the cell has fewer seeds than its table's maximum and ``‡``
  when it has fewer than 3 training runs (one training run: not significant by design).
- csv: the tidy long form (one row per record × metric), lossless and pandas-ready.
- json: the pivot. rich: a :class:`rich.table.Table` per protocol with right-aligned numbers.
"""

from __future__ import annotations

import csv
import io
import json

from ecamp_bench.leaderboard.aggregate import Cell, LeaderboardTable, Pivot
from ecamp_bench.leaderboard.training_noise import FEW_RUNS_MARK, LEGEND, MIN_TRAINING_RUNS
from ecamp_bench.results.store import TIDY_COLUMNS

MISSING = "—"


def cell_text(cell: Cell | None, digits: int = 3) -> str:
    """``0.873 ± 0.012 (n=3)``; ``*`` marks fewer seeds than expected, ``‡`` fewer than 3 training runs (not
    significant by design, :mod:`~ecamp_bench.leaderboard.training_noise`); ``—`` when missing or undefined."""
    if cell is None or cell.mean is None:
        return MISSING
    std = f" ± {cell.std:.{digits}f}" if cell.std is not None else ""
    flag = "*" if cell.short else ""
    few = FEW_RUNS_MARK if cell.n < MIN_TRAINING_RUNS else ""
    return f"{cell.mean:.{digits}f}{std} (n={cell.n}){flag}{few}{cell.mark}"


def row_texts(table: LeaderboardTable, backbone: str, best: str) -> list[str]:
    """:func:`cell_text` of each column of ``backbone``'s row, a cell marked best written as ``best.format(text)``
    (``"**{}**"`` in markdown)."""
    texts = []
    for col in range(len(table.columns)):
        cell = table.cells.get((backbone, col))
        text = cell_text(cell)
        texts.append(best.format(text) if cell is not None and cell.best and text != MISSING else text)
    return texts


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(table: LeaderboardTable) -> str:
    """One protocol's table as a GitHub pipe table with a heading."""
    header = ["backbone", *(c.label for c in table.columns)]
    lines = [f"### {table.title}", "", "| " + " | ".join(map(_md_escape, header)) + " |"]
    lines.append("|" + "---|" + "---:|" * len(table.columns))
    for backbone in table.backbones:
        lines.append("| " + " | ".join([_md_escape(backbone), *row_texts(table, backbone, "**{}**")]) + " |")
    for note in table_notes(table):
        lines += ["", note.replace("* ", "\\* ", 1) if note.startswith("* ") else note]
    return "\n".join(lines)


def to_markdown(pivot: Pivot) -> str:
    """The whole leaderboard as markdown (one table per protocol), ending with a newline."""
    parts = ["# ecamp-bench leaderboard", "",
             "Mean ± std over seeds of each task's primary metric; bold = best per column (among means over 2 or more "
             "seeds)."]
    if not pivot.tables:
        parts += ["", "_No result records yet: run `ecamp-bench eval`._"]
    for table in pivot.tables:
        parts += ["", markdown_table(table)]
    return "\n".join(parts) + "\n"


def to_csv(rows: list[dict]) -> str:
    """Tidy rows as CSV with the columns of :data:`TIDY_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(TIDY_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in TIDY_COLUMNS})
    return buffer.getvalue()


def to_json(pivot: Pivot) -> str:
    """The pivot as indented JSON."""
    return json.dumps(pivot.to_json(), indent=2) + "\n"


def table_notes(table: LeaderboardTable) -> list[str]:
    """The legends a protocol's table needs: ``*`` (fewer seeds than its most complete cell) and ``‡`` (fewer than
    :data:`MIN_TRAINING_RUNS` training runs), each only when a cell carries it."""
    notes = []
    if any(c.short for c in table.cells.values()):
        notes.append(f"* fewer seeds than the {table.expected_n} of the most complete cell.")
    if any(c.mean is not None and c.n < MIN_TRAINING_RUNS for c in table.cells.values()):
        notes.append(LEGEND)
    return notes


def to_rich(pivot: Pivot) -> list:
    """A list of :class:`rich.table.Table`, one per protocol (best per column in bold green), then the legends the
    tables need (:func:`table_notes`), each once, as plain text."""
    from rich.table import Table
    from rich.text import Text

    tables: list = []
    notes: list[str] = []
    for t in pivot.tables:
        notes += [n for n in table_notes(t) if n not in notes]
        table = Table(title=t.title, title_justify="left")
        table.add_column("backbone", style="bold")
        for column in t.columns:
            table.add_column(column.label, justify="right")
        for backbone in t.backbones:
            table.add_row(backbone, *row_texts(t, backbone, "[bold green]{}[/]"))
        tables.append(table)
    return tables + [Text(note) for note in notes]
