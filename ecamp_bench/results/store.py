"""Reading result records back: scan ``results/runs/``, report bad files, skip finished runs, tidy rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ecamp_bench.results.record import schema_problems


@dataclass(frozen=True)
class SkippedFile:
    """A JSON file under ``runs/`` that is not a readable result record, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ScanResult:
    """Records found (with their files) and the files that were skipped."""

    records: list[tuple[Path, dict]] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def read_record(path: Path) -> dict | None:
    """The record at ``path`` if it parses and matches the schema, else ``None``."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if not schema_problems(obj) else None


def is_finished(path: Path) -> bool:
    """Whether ``path`` holds a valid record with ``status == "ok"`` (a sweep may skip that run)."""
    record = read_record(path)
    return record is not None and record.get("status") == "ok"


def scan(results_dir: Path) -> ScanResult:
    """Every ``*.json`` under ``<results_dir>/runs``, split into valid records and skipped files (never raises).

    Hidden folders (a running evaluation's ``.work-<key>/`` scratch space, where mmengine logs JSON) and
    hidden files (atomic-write temporaries) are not looked at.
    """
    result = ScanResult()
    runs = Path(results_dir) / "runs"
    if not runs.is_dir():
        return result
    for path in sorted(runs.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(runs).parts):
            continue
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            result.skipped.append(SkippedFile(path, f"unreadable ({exc})"))
            continue
        except ValueError as exc:
            result.skipped.append(SkippedFile(path, f"not valid JSON ({exc})"))
            continue
        problems = schema_problems(obj)
        if problems:
            result.skipped.append(SkippedFile(path, "not a result record: " + "; ".join(problems[:3])))
            continue
        result.records.append((path, obj))
    return result


TIDY_COLUMNS = (
    "protocol", "protocol_version", "preset", "task", "task_version", "fraction", "backbone", "seed", "metric",
    "value", "ci95_lo", "ci95_hi", "higher_is_better", "primary", "n_test", "status", "finished_at", "run_key",
    "weights_sha256", "file",
)  # fmt: skip


def tidy_rows(scan_result: ScanResult, *, only_ok: bool = True) -> list[dict]:
    """One row per (record × metric) with the columns of :data:`TIDY_COLUMNS` (the lossless long form)."""
    rows = []
    for path, rec in scan_result.records:
        if only_ok and rec.get("status") != "ok":
            continue
        try:
            base = {
                "protocol": rec["protocol"]["name"],
                "protocol_version": int(rec["protocol"]["version"]),
                "task": rec["task"]["name"],
                "task_version": int(rec["task"]["version"]),
                "fraction": float(rec["fraction"]),
                "backbone": rec["backbone"]["name"],
                "seed": int(rec["seed"]),
                "preset": str((rec.get("config") or {}).get("resolved", {}).get("preset", "default")),
                "finished_at": (rec.get("timing") or {}).get("finished_at"),
                "status": rec["status"],
                "run_key": rec["run_key"],
                "weights_sha256": rec["backbone"].get("weights_sha256"),
                "file": str(path),
            }
            mine = []
            for metric in rec["metrics"]:
                ci = metric.get("ci95") or [None, None]
                value = metric.get("value")
                mine.append({
                    **base,
                    "metric": metric["name"],
                    "value": float(value) if value is not None else None,
                    "ci95_lo": ci[0],
                    "ci95_hi": ci[1],
                    "higher_is_better": bool(metric.get("higher_is_better", True)),
                    "primary": metric["name"] == rec["primary_metric"],
                    "n_test": metric.get("n"),
                })
            rows.extend(mine)
        except (KeyError, TypeError, ValueError) as exc:
            scan_result.skipped.append(SkippedFile(path, f"malformed record field ({type(exc).__name__}: {exc})"))
    return rows
