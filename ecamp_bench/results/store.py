"""Reading result records back: scan ``results/runs/``, report bad files, skip finished runs, tidy rows.

Every record goes through the one reader, :func:`ecamp_bench.results.record.read_record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ecamp_bench.results.record import RecordError, ResultRecord, read_record, try_read_record


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

    records: list[tuple[Path, ResultRecord]] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def is_finished(path: Path) -> bool:
    """Whether ``path`` holds a readable record with ``status == "ok"`` (a sweep may skip that run)."""
    record = try_read_record(path)
    return record is not None and record.ok


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
            result.records.append((path, read_record(path)))
        except RecordError as exc:
            result.skipped.append(SkippedFile(path, str(exc).removeprefix(f"{path}: ")))
    return result


TIDY_COLUMNS = (
    "protocol", "protocol_version", "preset", "task", "task_version", "fraction", "backbone", "seed", "metric",
    "value", "ci95_lo", "ci95_hi", "higher_is_better", "primary", "n_test", "status", "finished_at", "run_key",
    "arch", "arch_tag", "weights_sha256", "config_sha256", "setup_sha256", "task_config_sha256", "split_sha256",
    "split_base_sha256", "split", "paired_test", "value_fn", "file", "recipe",
)


def arch_tag(rec: ResultRecord) -> str:
    """The architecture a run actually built, from its resolved backbone config, e.g.
    ``vit_tiny_patch16_224 depth=3 embed_dim=64 num_heads=2 patch_size=8 64px`` (the record's ``arch`` when absent)."""
    section = rec.config.resolved.get("backbone") or {}
    arch = section.get("arch") or rec.backbone.arch
    kwargs = section.get("model_kwargs") or {}
    parts = [str(arch), *(f"{k}={kwargs[k]}" for k in sorted(kwargs))]
    if section.get("input_size"):
        parts.append(f"{section['input_size']}px")
    return " ".join(parts)


def identity_hashes(rec: ResultRecord) -> dict[str, str | None]:
    """The parts of a run's identity that the leaderboard groups by (besides name, weights and versions).

    ``setup_sha256``: the resolved config without its ``task`` section (protocol params, preset, backbone
    config, split and eval settings), the same for every task of one setup; ``task_config_sha256``: the
    ``task`` section (name, version, options); ``split_base_sha256``: the seed-independent split
    (``None`` in schema-1 records). Records of one row share all three per task. A published split is not part
    of the setup: it names its own leaderboard columns (tidy column ``split``), so one backbone stays one row.
    """
    from ecamp_bench.config import config_sha256

    resolved = rec.config.resolved
    published = rec.split.published is not None
    return {
        "setup_sha256": config_sha256({k: v for k, v in resolved.items()
                                       if k != "task" and not (published and k == "split")}),
        "task_config_sha256": config_sha256(resolved.get("task")),
        "split_base_sha256": rec.split.base_sha256,
    }



def tidy_rows(scan_result: ScanResult, *, only_ok: bool = True) -> list[dict]:
    """One row per (record × metric) with the columns of :data:`TIDY_COLUMNS` (the lossless long form)."""
    rows = []
    for path, rec in scan_result.records:
        if only_ok and not rec.ok:
            continue
        base = {
            "protocol": rec.protocol.name, "protocol_version": rec.protocol.version, "preset": rec.preset,
            "task": rec.task.name, "task_version": rec.task.version, "fraction": rec.fraction,
            "backbone": rec.backbone.name, "seed": rec.seed, "finished_at": rec.timing.finished_at,
            "status": rec.status, "run_key": rec.run_key, "arch": rec.backbone.arch,
            "weights_sha256": rec.backbone.weights_sha256, "config_sha256": rec.config.sha256,
            "split_sha256": rec.split.sha256, "arch_tag": arch_tag(rec), "file": str(path), **identity_hashes(rec),
            "split": (rec.split.published or {}).get("name", ""), "recipe": rec.config.recipe,
        }
        for metric in rec.metrics:
            ci = metric.ci95 or (None, None)
            rows.append({
                **base, "metric": metric.name, "value": metric.value, "ci95_lo": ci[0], "ci95_hi": ci[1],
                "higher_is_better": metric.higher_is_better, "primary": metric.name == rec.primary_metric,
                "n_test": metric.n, "paired_test": metric.paired_test, "value_fn": metric.value_fn,
            })
    return rows


__all__ = ["ScanResult", "SkippedFile", "TIDY_COLUMNS", "arch_tag", "identity_hashes", "is_finished", "read_record",
           "scan", "tidy_rows", "try_read_record"]
