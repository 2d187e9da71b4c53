"""Records → tidy rows → pivot: one table per protocol (and preset), rows = backbones, columns = task × fraction.

A cell holds the primary metric's mean ± sample std over seeds and the number of seeds ``n``. Protocols
(and presets of a protocol) are never mixed in one table. When several records share a cell and a seed
(e.g. re-runs with another ``--set``), the most recent one counts and the others are listed in ``notes``.
A cell with fewer seeds than the most seeds in its table is ``short`` (flagged by the renderers).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a task (and version) at one label fraction, scored with one metric."""

    task: str
    task_version: int
    fraction: float
    metric: str
    higher_is_better: bool

    @property
    def label(self) -> str:
        """Header text, e.g. ``rsna-cls 1% auc ↑``."""
        version = f"@v{self.task_version}" if self.task_version != 1 else ""
        arrow = "↑" if self.higher_is_better else "↓"
        return f"{self.task}{version} {format_fraction(self.fraction)} {self.metric} {arrow}"


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
    backbones: list[str]
    cells: dict[tuple[str, int], Cell]  # (backbone, column index) → cell
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
                {"backbone": b, "column": asdict(t.columns[c]), **asdict(cell)} for (b, c), cell in sorted(t.cells.items())
            ]
            out.append({
                "protocol": t.protocol, "protocol_version": t.protocol_version, "preset": t.preset,
                "expected_n": t.expected_n, "columns": [c.label for c in t.columns], "backbones": t.backbones,
                "cells": cells,
            })  # fmt: skip
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


def pivot(rows: list[dict]) -> Pivot:
    """Aggregate tidy rows (see :func:`ecamp_bench.results.store.tidy_rows`) into per-protocol tables."""
    result = Pivot()
    latest: dict[tuple, dict] = {}
    for row in rows:
        if not row.get("primary"):
            continue
        key = (row["protocol"], row["protocol_version"], row.get("preset", "default"), row["task"],
               row["task_version"], row["fraction"], row["metric"], row["backbone"], row["seed"])  # fmt: skip
        previous = latest.get(key)
        if previous is not None:
            older, newer = sorted((previous, row), key=lambda r: r.get("finished_at") or "")
            result.notes.append(f"{older['file']} superseded by {newer['file']} (same cell and seed)")
            row = newer
        latest[key] = row
    groups: dict[tuple, list[dict]] = {}
    for row in latest.values():
        groups.setdefault((row["protocol"], row["protocol_version"], row.get("preset", "default")), []).append(row)
    for (protocol, version, preset), members in sorted(groups.items()):
        result.tables.append(_table(protocol, version, preset, members))
    return result


def _table(protocol: str, version: int, preset: str, rows: list[dict]) -> LeaderboardTable:
    columns = sorted(
        {Column(r["task"], r["task_version"], r["fraction"], r["metric"], r["higher_is_better"]) for r in rows},
        key=lambda c: (c.task, c.task_version, c.fraction, c.metric),
    )
    index = {c: i for i, c in enumerate(columns)}
    backbones = sorted({r["backbone"] for r in rows})
    values: dict[tuple[str, int], list[tuple[int, float | None]]] = {}
    for r in rows:
        col = index[Column(r["task"], r["task_version"], r["fraction"], r["metric"], r["higher_is_better"])]
        values.setdefault((r["backbone"], col), []).append((r["seed"], r["value"]))
    cells = {}
    for key, seeded in values.items():
        mean, std = _mean_std([v for _, v in seeded])
        cells[key] = Cell(mean, std, len(seeded), sorted(s for s, _ in seeded))
    expected = max((c.n for c in cells.values()), default=0)
    for (_, col), cell in cells.items():
        cell.short = cell.n < expected
    for col, column in enumerate(columns):
        scored = [(c.mean, b) for (b, i), c in cells.items() if i == col and c.mean is not None]
        if scored:
            best = (max if column.higher_is_better else min)(m for m, _ in scored)
            for b in (b for m, b in scored if m == best):
                cells[(b, col)].best = True
    return LeaderboardTable(protocol, version, preset, columns, backbones, cells, expected)
