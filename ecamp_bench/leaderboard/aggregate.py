"""Records → tidy rows → pivot: one table per protocol (and preset), rows = run identities, columns = task × fraction.

A cell holds the primary metric's mean ± sample std over seeds and the number of seeds ``n``. Protocols
(and presets of a protocol) are never mixed in one table.

**Rows are run identities, not names** (:func:`assign_rows`): a row groups the records of one backbone
name with one weights sha256 and one setup (the resolved config without its task section: protocol
params, preset, backbone config, split and eval settings). If one row would mix, in one column, runs on
different task configs or splits (another ``task.options`` or another dataset), it is split by those too.
A name with several identities becomes several rows labelled ``name [weights 1a2b3c4d, config 5e6f7a8b]``
(the short hashes of the parts that differ), so runs that are not the same run are never averaged.
``random-init`` rows always name the architecture that was built: ``random-init(vit_small_patch16_224 224px)``.

Only when several records share a row, a cell and a seed (a rerun of the same identity) does the most
recent one count; the others are listed in ``notes``. A cell with fewer seeds than the most seeds in its
table is ``short`` (flagged by the renderers). The best cell of a column is marked only among cells that are not
short and average at least :data:`MIN_SEEDS_FOR_BEST` seeds (a single run is not a winner).
"""

from __future__ import annotations

import math
from dataclasses import asdict, astuple, dataclass, field

from ecamp_bench.leaderboard.keys import CellKey, RunIdentity, SeedKey, TableKey


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a task (and version) at one label fraction, scored with one metric."""

    task: str
    task_version: int
    fraction: float
    metric: str
    higher_is_better: bool
    split: str = ""  # a published split's name (mrm, ecamp, benchx, a folder); "" = our own seeded split

    @property
    def label(self) -> str:
        """Header text, e.g. ``rsna-cls 1% auc ↑`` or, on a published split, ``rsna-cls 1% [mrm split] auc ↑``."""
        version = f"@v{self.task_version}" if self.task_version != 1 else ""
        arrow = "↑" if self.higher_is_better else "↓"
        split = f" [{self.split} split]" if self.split else ""
        return f"{self.task}{version} {format_fraction(self.fraction)}{split} {self.metric} {arrow}"


@dataclass
class Cell:
    """Mean ± std over seeds of one backbone in one column."""

    mean: float | None
    std: float | None
    n: int
    seeds: list[int]
    short: bool = False
    best: bool = False
    mark: str = ""  # e.g. "†": significantly better than the runner-up (leaderboard.significance)


@dataclass
class LeaderboardTable:
    """The table of one protocol (+ version and preset)."""

    protocol: str
    protocol_version: int
    preset: str
    columns: list[Column]
    backbones: list[str]  # row labels: one per run identity (aggregate.assign_rows)
    cells: dict[tuple[str, int], Cell]  # (row label, column index) → cell
    expected_n: int

    @property
    def title(self) -> str:
        """E.g. ``linear v1`` or ``finetune v1 (preset tiny)``."""
        preset = f" (preset {self.preset})" if self.preset != "default" else ""
        return f"{self.protocol} v{self.protocol_version}{preset}"


@dataclass
class Pivot:
    """Every leaderboard table, plus notes about superseded duplicate records."""

    tables: list[LeaderboardTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """A JSON-able form of the pivot."""
        out = []
        for t in self.tables:
            cells = [
                {"backbone": b, "column": asdict(t.columns[c]), **asdict(cell)}
                for (b, c), cell in sorted(t.cells.items())
            ]
            out.append({
                "protocol": t.protocol, "protocol_version": t.protocol_version, "preset": t.preset,
                "expected_n": t.expected_n, "columns": [c.label for c in t.columns], "backbones": t.backbones,
                "cells": cells,
            })
        return {"tables": out, "notes": self.notes}


def format_fraction(fraction: float) -> str:
    """``0.01`` → ``1%``, ``0.1`` → ``10%``, ``1.0`` → ``100%``."""
    pct = fraction * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else f"{pct:g}%"


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return mean, math.sqrt(var)


RANDOM_INIT = "random-init"
#: A cell is marked best only when its mean is over at least this many seeds: one run has no spread to judge by.
MIN_SEEDS_FOR_BEST = 2


def _column(row: dict) -> Column:
    cell = CellKey.from_row(row)
    return Column(cell.task, cell.task_version, cell.fraction, cell.metric, row["higher_is_better"], cell.split)


def _table_key(row: dict) -> TableKey:
    return TableKey.from_row(row)


def _short(sha: str | None) -> str:
    return sha[:8] if sha else "none"


def assign_rows(rows: list[dict]) -> list[dict]:
    """Copies of tidy ``rows`` with a ``row`` label naming their run identity (see the module docstring)."""
    rows = [dict(r) for r in rows]
    base = {id(r): astuple(RunIdentity.from_row(r)) for r in rows}
    variants: dict[tuple, set] = {}
    for r in rows:
        found = variants.setdefault((_table_key(r), base[id(r)], CellKey.from_row(r)), set())
        found.add((r.get("task_config_sha256"), r.get("split_base_sha256")))
    mixed = {(table, ident) for (table, ident, _), found in variants.items() if len(found) > 1}

    def identity(r: dict) -> tuple:
        extra = ((r.get("task_config_sha256"), r.get("split_base_sha256")) if (_table_key(r), base[id(r)]) in mixed
                 else None)
        return (*base[id(r)], extra)

    by_name: dict[tuple, set] = {}
    for r in rows:
        by_name.setdefault((_table_key(r), r["backbone"]), set()).add(identity(r))
    for r in rows:
        r["row"] = row_label(r, identity(r), by_name[(_table_key(r), r["backbone"])])
    return rows


def row_label(row: dict, identity: tuple, siblings: set) -> str:
    """``name`` (``random-init(<arch>)`` for random init; ``(recipe name@sha8)`` after it for a recipe run), plus
    the short hashes that tell ``identity`` apart
    from the other identities of the same name in its table."""
    name = row["backbone"]
    label = f"{RANDOM_INIT}({row.get('arch_tag') or row.get('arch') or '?'})" if name == RANDOM_INIT else name
    if row.get("recipe"):
        label += f" (recipe {row['recipe']})"
    if len(siblings) < 2:
        return label
    parts = []
    for index, what in ((1, "weights"), (2, "config")):
        if len({s[index] for s in siblings}) > 1:
            parts.append(f"{what} {_short(identity[index])}")
    if len({s[3] for s in siblings}) > 1:
        task_sha, split_sha = identity[3] or (None, None)
        parts.append(f"task config {_short(task_sha)} split {_short(split_sha)}")
    return f"{label} [{', '.join(parts)}]"


def latest_per_seed(rows: list[dict]) -> tuple[dict[SeedKey, dict], list[str]]:
    """``SeedKey(cell, row label, seed) → newest primary row`` and notes on superseded reruns.

    ``rows`` must carry ``row`` labels (:func:`assign_rows`).
    """
    latest: dict[SeedKey, dict] = {}
    notes: list[str] = []
    for row in rows:
        if not row.get("primary"):
            continue
        key = SeedKey(CellKey.from_row(row), row["row"], row["seed"])
        previous = latest.get(key)
        if previous is not None:
            older, newer = sorted((previous, row), key=lambda r: r.get("finished_at") or "")
            notes.append(f"{older['file']} superseded by {newer['file']} (same run identity, cell and seed)")
            row = newer
        latest[key] = row
    return latest, notes


def pivot(rows: list[dict]) -> Pivot:
    """Aggregate tidy rows (see :func:`ecamp_bench.results.store.tidy_rows`) into per-protocol tables."""
    result = Pivot()
    latest, result.notes = latest_per_seed(assign_rows(rows))
    groups: dict[TableKey, list[dict]] = {}
    for key, row in latest.items():
        groups.setdefault(key.cell.table, []).append(row)
    for table, members in sorted(groups.items()):
        result.tables.append(_table(table.protocol, table.protocol_version, table.preset, members))
    return result


def _table(protocol: str, version: int, preset: str, rows: list[dict]) -> LeaderboardTable:
    columns = sorted(
        {_column(r) for r in rows},
        key=lambda c: (c.task, c.task_version, c.split, c.fraction, c.metric),
    )
    index = {c: i for i, c in enumerate(columns)}
    backbones = sorted({r["row"] for r in rows})
    values: dict[tuple[str, int], list[tuple[int, float | None]]] = {}
    for r in rows:
        col = index[_column(r)]
        values.setdefault((r["row"], col), []).append((r["seed"], r["value"]))
    cells = {}
    for key, seeded in values.items():
        mean, std = _mean_std([v for _, v in seeded])
        cells[key] = Cell(mean, std, len(seeded), sorted(s for s, _ in seeded))
    expected = max((c.n for c in cells.values()), default=0)
    for (_, col), cell in cells.items():
        cell.short = cell.n < expected
    for col, column in enumerate(columns):  # best only among means over >= MIN_SEEDS_FOR_BEST seeds, none short
        scored = [(c.mean, b) for (b, i), c in cells.items()
                  if i == col and c.mean is not None and c.n >= MIN_SEEDS_FOR_BEST and not c.short]
        if scored:
            best = (max if column.higher_is_better else min)(m for m, _ in scored)
            for b in (b for m, b in scored if m == best):
                cells[(b, col)].best = True
    return LeaderboardTable(protocol, version, preset, columns, backbones, cells, expected)
