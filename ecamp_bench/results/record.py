"""The result record: one JSON file per run, typed, with one reader and one writer.

Schema (``schema_version: 2``; docs/architecture.md, "Result record")::

    run_key, schema_version, task {name, version}, protocol {name, version}, fraction, seed,
    backbone {name, arch, weights_ref, weights_sha256}, config {resolved, sha256},
    split {manifest, sha256, n_train, n_val, n_test, base_sha256, published}, dataset {layout, root, synthetic,
    n_images, positives, small_test_set, ...},
    metrics [{name, value, higher_is_better, ci95, n, paired_test, value_fn}], primary_metric,
    env {ecamp_bench, python, torch, timm, mmengine, mmdet, mmseg, cuda, device, git_commit, git_dirty},
    plugins {task, protocol, backbone}, timing {started_at, finished_at, wall_time_s}, status, error,
    predictions_file, cost {params, gflops, input_size, images_per_s, device, ...} (optional)

Schema 2 adds, per metric, ``paired_test`` (how two runs are compared on it, from
:attr:`~ecamp_bench.specs.MetricSpec.paired_test`) and ``value_fn`` (the ``"module:function"`` that computes
it from saved predictions), so the leaderboard needs no task plugin; ``split.base_sha256`` (the
seed-independent split, for grouping runs by identity); ``dataset.synthetic_marker`` (the synthetic
generator's marker, so the report needs no data folder); and ``predictions_file`` as a typed field.
A schema-1 file is read by :func:`record_from_json` through :func:`upgrade_v1` (documented there);
any other version is a :class:`RecordError` naming the file and the version.

The run key is ``sha256(canonical JSON of task+version, protocol+version, fraction, seed, backbone name,
weights sha256, config sha256, split sha256)[:16]`` and is also the file name:
``results/runs/<task>/<backbone>/<run_key>.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata as md
import json
import math
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecamp_bench.atomic import atomic_write_text
from ecamp_bench.config import canonical_json
from ecamp_bench.errors import EcampBenchError

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
REQUIRED_KEYS = (
    "run_key", "schema_version", "task", "protocol", "fraction", "seed", "backbone", "config", "split",
    "dataset", "metrics", "primary_metric", "env", "plugins", "timing", "status", "error",
)


class RecordError(EcampBenchError):
    """A file that is not a readable result record of a known schema (the message names the file and key)."""


@dataclass(frozen=True)
class NameVersion:
    """A task or protocol as a record names it."""

    name: str
    version: int


@dataclass(frozen=True)
class BackboneRef:
    """The backbone of a run: its name, timm architecture, where the weights came from and their sha256."""

    name: str
    arch: str
    weights_ref: str | None = None
    weights_sha256: str | None = None


@dataclass(frozen=True)
class ConfigRef:
    """The resolved configuration of a run and its canonical sha256."""

    resolved: dict
    sha256: str

    @property
    def preset(self) -> str:
        """The protocol preset the run used (``default`` when absent)."""
        return str(self.resolved.get("preset", "default"))

    @property
    def recipe(self) -> str:
        """``name@sha8`` of the recipe the run used (``""`` without one)."""
        recipe = self.resolved.get("recipe") or {}
        return f"{recipe['name']}@{str(recipe['sha256'])[:8]}" if recipe.get("name") else ""


@dataclass(frozen=True)
class SplitRef:
    """The split manifest of a run, its sha256, the sizes of its parts, and the seed-independent split's sha256."""

    manifest: str
    sha256: str
    n_train: int
    n_val: int
    n_test: int
    base_sha256: str | None = None
    published: dict | None = None  # a published split (MRM/ECAMP/BenchX lists): files + sha256, label sources, overlaps


@dataclass(frozen=True)
class MetricRecord:
    """One metric of a run: value (``None`` = undefined), 95% CI, test size, and how to compare two runs on it.

    ``paired_test`` is ``"auc"`` (DeLong for one label, paired bootstrap of the macro AUC for several) or
    ``"bootstrap"`` (paired bootstrap of ``value_fn``); ``None`` = no paired test is defined.
    """

    name: str
    value: float | None
    higher_is_better: bool = True
    ci95: tuple[float, float] | None = None
    n: int = 0
    paired_test: str | None = None
    value_fn: str | None = None


@dataclass(frozen=True)
class Timing:
    """When a run started and finished (ISO-8601 UTC) and how long it took."""

    started_at: str | None
    finished_at: str | None
    wall_time_s: float | None


@dataclass(frozen=True)
class ResultRecord:
    """One run's result record (see the module docstring for the JSON form)."""

    run_key: str
    task: NameVersion
    protocol: NameVersion
    fraction: float
    seed: int
    backbone: BackboneRef
    config: ConfigRef
    split: SplitRef
    dataset: dict
    metrics: tuple[MetricRecord, ...]
    primary_metric: str
    env: dict
    plugins: dict
    timing: Timing
    status: str
    error: str | None
    predictions_file: str | None = None
    schema_version: int = SCHEMA_VERSION
    cost: dict | None = None  # the encoder's cost (ecamp_bench.evaluation.cost); absent in older records

    @property
    def ok(self) -> bool:
        """Whether the run finished (``status == "ok"``)."""
        return self.status == "ok"

    @property
    def primary(self) -> MetricRecord | None:
        """The primary metric's entry (``None`` for a failed run with no metrics)."""
        return next((m for m in self.metrics if m.name == self.primary_metric), None)

    @property
    def primary_value(self) -> float | None:
        """The primary metric's value (``None`` when undefined or missing)."""
        return self.primary.value if self.primary is not None else None

    @property
    def preset(self) -> str:
        """The protocol preset of the run."""
        return self.config.preset

    def to_json(self) -> dict:
        """The JSON-able dict written to disk (keys in schema order)."""
        out = dataclasses.asdict(self)
        order = ("schema_version", "run_key",
                 *(f.name for f in dataclasses.fields(self) if f.name not in ("schema_version", "run_key")))
        out["metrics"] = [{**m, "ci95": list(m["ci95"]) if m["ci95"] is not None else None} for m in out["metrics"]]
        return {k: out[k] for k in order}

    def replace(self, **changes: Any) -> ResultRecord:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


def upgrade_v1(obj: Mapping) -> dict:
    """A schema-1 record as schema 2: the same fields; metrics gain ``paired_test``/``value_fn``.

    Schema 1 did not store how a metric is compared. The rule the leaderboard used then is applied once
    here: a metric named ``auc`` or ``auc/<label>`` is compared with the AUC tests, and every other metric
    gets ``None`` (no paired test: the report says "not tested" instead of importing the task plugin).
    """
    out = dict(obj)
    metrics = []
    for m in obj.get("metrics", []):
        m = dict(m)
        if m.get("name") == "auc" or str(m.get("name", "")).startswith("auc/"):
            m.setdefault("paired_test", "auc")
        metrics.append(m)
    out["metrics"] = metrics
    out["schema_version"] = SCHEMA_VERSION
    return out


def _need(obj: Mapping, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise RecordError(f"{where}: missing key '{key}'")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RecordError(f"{where}: key '{key}' should be {names}, got {type(value).__name__}")
    return value


def record_from_json(obj: Any, source: str | Path = "<record>") -> ResultRecord:
    """Build a :class:`ResultRecord` from parsed JSON; a :class:`RecordError` names ``source`` and the bad key."""
    where = str(source)
    if not isinstance(obj, Mapping):
        raise RecordError(f"{where}: top level is {type(obj).__name__}, not an object")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise RecordError(f"{where}: not a result record: " + "; ".join(f"missing key '{k}'" for k in missing[:3]))
    version = obj.get("schema_version")
    if version not in READABLE_SCHEMAS:
        raise RecordError(
            f"{where}: schema_version is {version!r}; this ecamp-bench reads {list(READABLE_SCHEMAS)} "
            "(a newer ecamp-bench wrote it, or it is not a record)"
        )
    if version == 1:
        obj = upgrade_v1(obj)
    try:
        task, protocol = _need(obj, "task", Mapping, where), _need(obj, "protocol", Mapping, where)
        backbone, config = _need(obj, "backbone", Mapping, where), _need(obj, "config", Mapping, where)
        split, timing = _need(obj, "split", Mapping, where), _need(obj, "timing", Mapping, where)
        metrics = []
        for i, m in enumerate(_need(obj, "metrics", list, where)):
            if not isinstance(m, Mapping) or "name" not in m:
                raise RecordError(f"{where}: metrics[{i}] is not an object with a 'name'")
            ci = m.get("ci95")
            metrics.append(MetricRecord(
                name=str(m["name"]), value=None if m.get("value") is None else float(m["value"]),
                higher_is_better=bool(m.get("higher_is_better", True)),
                ci95=(float(ci[0]), float(ci[1])) if ci else None, n=int(m.get("n") or 0),
                paired_test=m.get("paired_test"), value_fn=m.get("value_fn"),
            ))
        return ResultRecord(
            run_key=str(obj["run_key"]),
            task=NameVersion(str(task["name"]), int(task["version"])),
            protocol=NameVersion(str(protocol["name"]), int(protocol["version"])),
            fraction=float(obj["fraction"]),
            seed=int(obj["seed"]),
            backbone=BackboneRef(str(backbone["name"]), str(backbone.get("arch", "")), backbone.get("weights_ref"),
                                 backbone.get("weights_sha256")),
            config=ConfigRef(dict(config.get("resolved") or {}), str(config.get("sha256", ""))),
            split=SplitRef(str(split.get("manifest", "")), str(split.get("sha256", "")), int(split.get("n_train", 0)),
                           int(split.get("n_val", 0)), int(split.get("n_test", 0)), split.get("base_sha256"),
                           split.get("published")),
            dataset=dict(_need(obj, "dataset", Mapping, where)),
            metrics=tuple(metrics),
            primary_metric=str(obj["primary_metric"]),
            env=dict(obj.get("env") or {}),
            plugins=dict(obj.get("plugins") or {}),
            timing=Timing(timing.get("started_at"), timing.get("finished_at"),
                          None if timing.get("wall_time_s") is None else float(timing["wall_time_s"])),
            status=str(obj["status"]),
            error=obj.get("error"),
            predictions_file=obj.get("predictions_file"),
            cost=dict(obj["cost"]) if isinstance(obj.get("cost"), Mapping) else None,
        )
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise RecordError(f"{where}: malformed record field ({type(exc).__name__}: {exc})") from None


def read_record(path: Path) -> ResultRecord:
    """The record at ``path``; a :class:`RecordError` naming the file when it is unreadable or not a record.

    A record holding ``NaN``/``Infinity`` (which :func:`write_record` never writes) is refused the same way, so
    no cell averages fewer values than it counts.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from None
    try:
        obj = json.loads(text, parse_constant=_non_finite, parse_float=_finite_float)
    except _NonFiniteValue as exc:
        raise RecordError(f"{path}: holds the non-finite value {exc} (a record holds finite numbers only; "
                          "it is not used)") from None
    except ValueError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from None
    return record_from_json(obj, path)


class _NonFiniteValue(Exception):
    """A ``NaN``/``Infinity`` (or an overflowing number such as ``1e999``) met while parsing a record."""


def _non_finite(constant: str):
    raise _NonFiniteValue(constant)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFiniteValue(text)
    return value


def try_read_record(path: Path) -> ResultRecord | None:
    """The record at ``path``, or ``None`` when there is none or it does not parse (a sweep then reruns it)."""
    try:
        return read_record(path)
    except RecordError:
        return None


def write_record(record: ResultRecord | Mapping, path: Path) -> Path:
    """Write a result record as indented JSON, atomically (NaN is not allowed in records).

    A plain mapping is validated through :func:`record_from_json` first, so nothing unreadable is written.
    """
    if not isinstance(record, ResultRecord):
        record = record_from_json(record, path)
    return atomic_write_text(path, json.dumps(record.to_json(), indent=2, sort_keys=False, allow_nan=False) + "\n")


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


def _gpu_name(device: str) -> str | None:
    """The CUDA device's name (``NVIDIA H200``) for a ``cuda``/``cuda:N`` run, else ``None``."""
    import torch

    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    index = torch.device(device).index
    return torch.cuda.get_device_name(torch.cuda.current_device() if index is None else index)


def environment(device: str, world_size: int = 1) -> dict:
    """Package versions, CUDA, device (and the GPU's name), the number of DDP processes and the git commit
    (``git_dirty`` when tracked files changed)."""
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
        "gpu": _gpu_name(device),
        "world_size": int(world_size),
        "git_commit": _git(["rev-parse", "HEAD"]),
        "git_dirty": bool(status) if status is not None else None,
    }
