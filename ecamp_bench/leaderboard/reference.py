"""Reference rows: published numbers for other methods, from a YAML file, shown as "reported, not re-run".

They are paper numbers on the real datasets (with each paper's splits), never results of this harness, so
the renderers keep them in a separate block of each protocol's table, labelled with their source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ecamp_bench.errors import ConfigError
from ecamp_bench.leaderboard.aggregate import LeaderboardTable

REPORTED = "reported, not re-run"
UNITS = {"percent": 0.01, "fraction": 1.0}


@dataclass(frozen=True)
class ReferenceRow:
    """One published row: a method on one task with one protocol, values per label fraction (0-1 scale)."""

    method: str
    arch: str
    protocol: str
    task: str
    metric: str
    values: dict[float, float]
    source: str
    note: str = ""
    backbone: str = ""

    @property
    def label(self) -> str:
        """E.g. ``MGCA (R50)``, or ``mgca-r50: MGCA (R50)`` when the row names the backbone that re-runs it."""
        name = f"{self.method} ({self.arch})" if self.arch else self.method
        return f"{self.backbone}: {name}" if self.backbone else name


def load_references(path: Path) -> list[ReferenceRow]:
    """Read and validate a reference YAML file; errors name the file and the entry."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read reference rows ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("references"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'references' list")
    sources = doc.get("sources") or {}
    rows = []
    for i, entry in enumerate(doc["references"]):
        where = f"{path}: references[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping")
        missing = [k for k in ("method", "protocol", "task", "metric", "values", "source") if k not in entry]
        if missing:
            raise ConfigError(f"{where}: missing key(s) {missing}")
        unit = entry.get("unit", "fraction")
        if unit not in UNITS:
            raise ConfigError(f"{where}: unit {unit!r} is not one of {sorted(UNITS)}")
        try:
            values = {float(f): float(v) * UNITS[unit] for f, v in dict(entry["values"]).items()}
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: 'values' must map label fractions to numbers") from None
        source = str(entry["source"])
        rows.append(ReferenceRow(
            method=str(entry["method"]), arch=str(entry.get("arch", "")), protocol=str(entry["protocol"]),
            task=str(entry["task"]), metric=str(entry["metric"]), values=values,
            source=str(sources.get(source, source)), note=str(entry.get("note", "")),
            backbone=str(entry.get("backbone", "")),
        ))
    return rows


def rows_for_table(table: LeaderboardTable,
                   references: list[ReferenceRow]) -> list[tuple[str, dict[int, float], list[ReferenceRow]]]:
    """``(label, {column index: value}, source rows)`` for the references that match ``table``'s protocol and columns.

    Rows of one method (label) on several tasks are merged into one table row. Rows whose ``backbone`` was
    measured in the table come first, in the table's backbone order, so a re-run and its published number
    read side by side.
    """
    merged: dict[str, tuple[dict[int, float], list[ReferenceRow]]] = {}
    for ref in references:
        if ref.protocol != table.protocol:
            continue
        for col, column in enumerate(table.columns):
            if column.task != ref.task or column.metric != ref.metric:
                continue
            value = next((v for f, v in ref.values.items() if abs(f - column.fraction) < 1e-9), None)
            if value is None:
                continue
            values, sources = merged.setdefault(ref.label, ({}, []))
            values[col] = value
            if ref not in sources:
                sources.append(ref)
    order: dict[str, int] = {}
    for i, label in enumerate(table.backbones):  # row labels are "name" or "name [weights …, config …]"
        order.setdefault(label.split(" [", 1)[0], i)
    rows = [(label, values, sources) for label, (values, sources) in merged.items()]
    return sorted(rows, key=lambda row: order.get(row[2][0].backbone, len(order)))
