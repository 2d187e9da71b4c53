"""Renderers: pure functions from a :class:`Pivot` (or tidy rows) to text. They never touch the runner.

- markdown: one GitHub pipe table per protocol; best per column in bold; ``—`` for a missing cell;
  ``(n=k)`` after every value, with ``*`` when the cell has fewer seeds than its table's maximum and ``‡``
  when it has fewer than 3 training runs (one training run: not significant by design).
- csv: the tidy long form (one row per record × metric), lossless and pandas-ready.
- json: the pivot. rich: a table per protocol with right-aligned numbers (:class:`LabelledTable`: every text is data,
  never rich markup, and a row label is never cut).
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


def shown_best(cell: Cell | None) -> bool:
    """Whether ``cell`` is drawn as its column's best (bold in markdown and HTML, green on a terminal): a best cell
    with a value."""
    return cell is not None and cell.best and cell.mean is not None


def row_texts(table: LeaderboardTable, backbone: str, best: str) -> list[str]:
    """:func:`cell_text` of each column of ``backbone``'s row, a cell marked best written as ``best.format(text)``
    (``"**{}**"`` in markdown)."""
    texts = []
    for col in range(len(table.columns)):
        cell = table.cells.get((backbone, col))
        text = cell_text(cell)
        texts.append(best.format(text) if shown_best(cell) else text)
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
    """A list of :class:`LabelledTable`, one per protocol (best per column in bold green), then the legends the
    tables need (:func:`table_notes`), each once, as plain text."""
    from rich.text import Text

    tables: list = []
    notes: list[str] = []
    for t in pivot.tables:
        notes += [n for n in table_notes(t) if n not in notes]
        rows, styles = [], {}
        for i, backbone in enumerate(t.backbones):
            rows.append([backbone, *row_texts(t, backbone, "{}")])
            styles.update({(i, col + 1): "bold green" for col in range(len(t.columns))
                           if shown_best(t.cells.get((backbone, col)))})
        tables.append(LabelledTable(t.title, ["backbone", *(c.label for c in t.columns)], rows, styles))
    return tables + [Text(note) for note in notes]


#: Border and padding around the columns of a rich table (``box.HEAVY_HEAD``, padding 1 each side): ``3`` per column
#: (its padding and the rule on its left) plus ``1`` for the right edge.
_PER_COLUMN, _EDGE = 3, 1


class LabelledTable:
    """A terminal table whose first column holds row labels (backbones, run identities), rendered as one or more
    :class:`rich.table.Table` sized to the console when printed.

    Every text (title, headers, cells) is data: escaped, never read as rich markup (``auc[sex=F]``,
    ``name [weights 1a2b3c4d]``). A row label is never cut: it stays on one line when the whole table fits,
    else its column is as wide as the room the other columns leave at their natural widths, but never narrower than
    the longest word of a label (a label wraps at spaces only) nor wider than its longest label. The other columns
    shrink and fold (never ``…``); when they would have to become narrower than their longest word, the columns that
    do not fit continue in another table (``(continued)``) that repeats the first ``keys`` columns (the label, and
    e.g. the fraction of a fairness row). ``styles``: (row, column) → a rich style for that cell (e.g. the best of
    a column)."""

    def __init__(self, title: str, header: list[str], rows: list[list[str]],
                 styles: dict[tuple[int, int], str] | None = None, *, keys: int = 1, label_style: str = "bold") -> None:
        self.title, self.header, self.rows = title, header, rows
        self.styles, self.keys, self.label_style = styles or {}, keys, label_style

    def widths(self, width: int) -> tuple[int, list[list[int]]]:
        """The label column's width and the indices of the columns after the keys in each table on a
        ``width``-column console."""
        from rich.cells import cell_len

        columns = list(zip(self.header, *self.rows))
        natural = [max(cell_len(text) for text in column) for column in columns]
        word = [max((cell_len(w) for text in column for w in text.split()), default=0) for column in columns]
        others = list(range(self.keys, len(columns)))
        if sum(natural) + _PER_COLUMN * len(columns) + _EDGE <= width:
            return natural[0], [others]
        room = width - sum(natural[i] + _PER_COLUMN for i in range(1, len(columns))) - _PER_COLUMN - _EDGE
        label = max(word[0], min(natural[0], room))
        start = label + _PER_COLUMN + _EDGE + sum(natural[i] + _PER_COLUMN for i in range(1, self.keys))

        def fits(part: list[int]) -> bool:
            """Whether no column of ``part`` gets narrower than its longest word: rich narrows the widest columns
            to one level (never below it: rich shares the width left over one level exactly)."""
            room = width - start - _PER_COLUMN * len(part)
            level = max(natural[i] for i in part)
            while level > 0 and sum(min(natural[i], level) for i in part) > room:
                level -= 1
            return all(word[i] <= level for i in part if natural[i] > level)

        parts: list[list[int]] = [[]]
        for i in others:
            if parts[-1] and not fits([*parts[-1], i]):
                parts.append([])
            parts[-1].append(i)
        return label, parts

    def tables(self, width: int) -> list:
        """The :class:`rich.table.Table` objects for a ``width``-column console."""
        from rich.markup import escape
        from rich.table import Table

        label, parts = self.widths(width)
        out = []
        for n, part in enumerate(parts):
            title = self.title + (" (continued)" if n else "")
            table = Table(title=escape(title), title_justify="left")
            table.add_column(escape(self.header[0]), style=self.label_style, width=label, overflow="fold")
            for i in [*range(1, self.keys), *part]:
                table.add_column(escape(self.header[i]), justify="right", overflow="fold")
            for r, row in enumerate(self.rows):
                cells = [escape(row[0])]
                for i in [*range(1, self.keys), *part]:
                    style = self.styles.get((r, i))
                    cells.append(f"[{style}]{escape(row[i])}[/]" if style else escape(row[i]))
                table.add_row(*cells)
            out.append(table)
        return out

    def __rich_console__(self, console, options):
        yield from self.tables(options.max_width)
