"""The result record: one JSON file per run, its run key, its location, and atomic writing.

Schema (``schema_version: 1``; see ``ARCHITECTURE.md``)::

    run_key, schema_version, task {name, version}, protocol {name, version}, fraction, seed,
    backbone {name, arch, weights_ref, weights_sha256}, config {resolved, sha256},
    split {manifest, sha256, n_train, n_val, n_test}, dataset {layout, root, synthetic, n_images, positives},
    metrics [{name, value, higher_is_better, ci95, n}], primary_metric,
    env {ecamp_bench, python, torch, timm, mmengine, mmdet, mmseg, cuda, device, git_commit, git_dirty},
    plugins {task, protocol, backbone}, timing {started_at, finished_at, wall_time_s}, status, error

The run key is ``sha256(canonical JSON of task+version, protocol+version, fraction, seed, backbone name,
weights sha256, config sha256, split sha256)[:16]`` and is also the file name:
``results/runs/<task>/<backbone>/<run_key>.json``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ecamp_bench.config import canonical_json

SCHEMA_VERSION = 1
REQUIRED_KEYS = (
    "run_key", "schema_version", "task", "protocol", "fraction", "seed", "backbone", "config", "split",
    "dataset", "metrics", "primary_metric", "env", "plugins", "timing", "status", "error",
)  # fmt: skip


def run_key(
    *,
    task: str,
    task_version: int,
    protocol: str,
    protocol_version: int,
    fraction: float,
    seed: int,
    backbone: str,
    weights_sha256: str | None,
    config_sha256: str,
    split_sha256: str,
) -> str:
    """The 16-hex-digit key that identifies a run (and names its record file)."""
    identity = {
        "task": {"name": task, "version": task_version},
        "protocol": {"name": protocol, "version": protocol_version},
        "fraction": float(fraction),
        "seed": int(seed),
        "backbone": backbone,
        "weights_sha256": weights_sha256,
        "config_sha256": config_sha256,
        "split_sha256": split_sha256,
    }
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]


def safe_dirname(name: str) -> str:
    """A backbone/task name as a folder name (``:`` and path separators become ``--``)."""
    return name.replace(":", "--").replace("/", "--").replace("\\", "--")


def record_path(results_dir: Path, task: str, backbone: str, key: str) -> Path:
    """``<results_dir>/runs/<task>/<backbone>/<key>.json``."""
    return Path(results_dir) / "runs" / safe_dirname(task) / safe_dirname(backbone) / f"{key}.json"


def predictions_path(record_file: Path) -> Path:
    """The predictions file next to a record: ``<run_key>.predictions.npz``."""
    return Path(record_file).with_suffix(".predictions.npz")


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder and ``os.replace``.

    A crash before the replace leaves the previous file untouched and no partial file under ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_record(record: dict, path: Path) -> Path:
    """Write a result record as indented JSON, atomically (NaN is not allowed in records)."""
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n")


def schema_problems(obj: Any) -> list[str]:
    """Why ``obj`` is not a result record of this schema (empty list when it is)."""
    if not isinstance(obj, dict):
        return [f"top level is {type(obj).__name__}, not an object"]
    problems = [f"missing key '{k}'" for k in REQUIRED_KEYS if k not in obj]
    if obj.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {obj.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    if not isinstance(obj.get("metrics", []), list):
        problems.append("'metrics' is not a list")
    return problems


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _git(args: list[str]) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def environment(device: str, world_size: int = 1) -> dict:
    """Package versions, CUDA, device, the number of DDP processes and the git commit (``git_dirty`` when tracked files changed)."""
    import torch

    status = _git(["status", "--porcelain", "--untracked-files=no"])
    return {
        "ecamp_bench": _version("ecamp-bench"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": _version("timm"),
        "mmengine": _version("mmengine"),
        "mmdet": _version("mmdet"),
        "mmseg": _version("mmsegmentation"),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "device": device,
        "world_size": int(world_size),
        "git_commit": _git(["rev-parse", "HEAD"]),
        "git_dirty": bool(status) if status is not None else None,
    }
