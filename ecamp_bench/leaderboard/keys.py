"""The typed keys of the read side, shared by the leaderboard (``aggregate``), its paired tests (``significance``)
and ``compare``, so that a table, a cell and a run identity are built in one place from a tidy row
(:func:`ecamp_bench.results.store.tidy_rows`).

- :class:`TableKey`: one leaderboard table = protocol, protocol version and preset (never mixed in one table);
- :class:`CellKey`: one cell = a table plus a task (and version), label fraction, metric and split;
- :class:`RunIdentity`: what makes two runs the same run: backbone name, weights sha256 and setup sha256 (the
  resolved config without its task section).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FRACTION_TOLERANCE = 1e-12


@dataclass(frozen=True, order=True)
class TableKey:
    """A leaderboard table: ``(protocol, protocol version, preset)``."""

    protocol: str
    protocol_version: int
    preset: str = "default"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TableKey:
        """The table of a tidy row."""
        return cls(row["protocol"], row["protocol_version"], row.get("preset", "default"))


@dataclass(frozen=True, order=True)
class CellKey:
    """A cell of a table: its table, task (and version), label fraction, metric and split (``""`` = our own)."""

    table: TableKey
    task: str
    task_version: int
    fraction: float
    metric: str
    split: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CellKey:
        """The cell of a tidy row."""
        return cls(
            TableKey.from_row(row),
            row["task"],
            row["task_version"],
            row["fraction"],
            row["metric"],
            row.get("split") or "",
        )

    def same_fraction(self, fraction: float) -> bool:
        """Whether this cell is at label fraction ``fraction`` (floats compared with a tolerance)."""
        return abs(self.fraction - fraction) < FRACTION_TOLERANCE


@dataclass(frozen=True, order=True)
class RunIdentity:
    """Backbone name, weights sha256 and setup sha256: runs that share all three are the same run."""

    backbone: str
    weights_sha256: str | None
    setup_sha256: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunIdentity:
        """The run identity of a tidy row."""
        return cls(row["backbone"], row.get("weights_sha256"), row.get("setup_sha256"))


@dataclass(frozen=True, order=True)
class SeedKey:
    """One seed of one row (a run identity's label) in one cell: the key of the newest record that counts."""

    cell: CellKey
    row: str
    seed: int
