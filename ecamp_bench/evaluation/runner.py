"""The runner: (task, protocol, backbone, fraction, seed) → one result record in ``results/runs/``.

Steps: read the task's layout from the data root, let the task implementation prepare its samples, split
them (test/val fixed by ``split.seed``; the label-fraction subset of train drawn with the run seed), resolve
the backbone, resolve the config (protocol params ← ``configs/protocols/<p>.yaml`` ← preset ← ``--set``),
compute the run key, skip when an ``ok`` record exists (unless ``force``), run the protocol, score its
test predictions, and write the predictions and the record atomically.

Under ``torchrun`` every rank runs the same steps: rank 0 prepares first (it may generate the synthetic
default and write the split manifest), its skip decision holds for all, every rank runs the protocol
(which shards its work), and only rank 0 scores and writes; its record is then handed to every rank.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ecamp_bench import __version__
from ecamp_bench.config import apply_overrides, config_sha256, from_dict, to_dict
from ecamp_bench.data.samples import SampleTable
from ecamp_bench.distributed import broadcast_object, current, main_first
from ecamp_bench.errors import DataError, EcampBenchError
from ecamp_bench.evaluation.context import NullProgress, PreparedTask, ProgressReporter, RunContext
from ecamp_bench.evaluation.params import protocol_params
from ecamp_bench.evaluation.splitting import SplitResult, split_for_run
from ecamp_bench.models.backbone import import_ref
from ecamp_bench.models.backbone_refs import resolve_backbone
from ecamp_bench.models.checkpoints import utc_now, weights_sha256
from ecamp_bench.paths import cache_dir, results_dir
from ecamp_bench.plugins import Catalog
from ecamp_bench.results.record import (
    SCHEMA_VERSION, environment, predictions_path, record_path, run_key, write_record,
)  # fmt: skip
from ecamp_bench.results.store import is_finished, read_record
from ecamp_bench.specs import BackboneSpec

BACKBONE_CONFIG_FIELDS = ("arch", "input_size", "mean", "std", "global_pool", "model_kwargs", "feature_indices", "adapt_state_dict")


@dataclass
class RunRequest:
    """One evaluation run as asked on the command line."""

    task: str
    fraction: float
    seed: int = 0
    protocol: str | None = None
    backbone: str | None = None
    weights: Path | None = None
    data_root: Path | None = None
    preset: str = "default"
    overrides: list[str] = field(default_factory=list)
    force: bool = False
    device: str = "cpu"
    num_workers: int = 0


@dataclass
class RunOutcome:
    """The record of a run, where it lives, and whether it was skipped because it already existed."""

    record: dict
    path: Path
    skipped: bool = False


def _default_data_root() -> tuple[Path, bool]:
    from ecamp_bench.data.synth import ensure_synthetic_default

    return Path(ensure_synthetic_default()), True


def _backbone_config(spec: BackboneSpec) -> dict:
    return {name: to_dict_value(getattr(spec, name)) for name in BACKBONE_CONFIG_FIELDS}


def to_dict_value(value):
    """Plain JSON-able value (tuples → lists, dicts copied)."""
    if isinstance(value, tuple):
        return [to_dict_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_dict_value(v) for k, v in value.items()}
    return value


def _apply_backbone_config(spec: BackboneSpec, section: dict) -> BackboneSpec:
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in section.items()}
    if changes.get("feature_indices") is not None:
        changes["feature_indices"] = tuple(int(i) for i in changes["feature_indices"])
    return replace(spec, **changes)


def _positives(impl, task, table: SampleTable) -> dict[str, int]:
    if not len(table):
        return {label: 0 for label in task.labels}
    targets = np.asarray(impl.targets(task, table))
    return {label: int((targets[:, c] == 1).sum()) for c, label in enumerate(task.labels)}


def prepare_run(request: RunRequest, catalog: Catalog) -> dict:
    """Everything but the training: specs, data, split, resolved config and run key (for ``eval`` and dry runs)."""
    task = catalog.task(request.task)
    protocol = catalog.protocol(request.protocol or task.protocols[0])
    if task.kind not in protocol.kinds:
        raise EcampBenchError(f"protocol '{protocol.name}' supports {list(protocol.kinds)}, not task kind '{task.kind}'")
    spec, weights_path = resolve_backbone(catalog, request.backbone, request.weights)
    params = protocol_params(protocol, request.preset)
    config = {
        "task": {"name": task.name, "version": task.version, "options": dict(task.options)},
        "protocol": to_dict(params),
        "preset": request.preset,
        "backbone": _backbone_config(spec),
        "split": {"seed": 0, "val_frac": 0.1, "test_frac": 0.2},
        "eval": {"n_bootstrap": 1000},
    }
    config = apply_overrides(config, request.overrides)
    params = from_dict(protocol.params, config["protocol"], prefix="protocol")
    config["protocol"] = to_dict(params)
    spec = _apply_backbone_config(spec, config["backbone"])
    if config["task"]["options"] != dict(task.options):
        task = replace(task, options=dict(config["task"]["options"]))
    data_root, synthetic = (Path(request.data_root), False) if request.data_root else _default_data_root()
    if not synthetic:
        from ecamp_bench.data.synth import read_marker

        synthetic = read_marker(data_root) is not None
    from ecamp_bench.data.roots import find_layout_root

    layout = catalog.layout(task.layout)
    layout_root = find_layout_root(layout, data_root)
    impl = import_ref(task.implementation)
    prepared: PreparedTask = impl.prepare(task, layout.read(layout_root))
    if not len(prepared.table):
        raise DataError(f"task '{task.name}': no usable samples", path=layout_root)
    split: SplitResult = split_for_run(prepared, impl, task, request.fraction, request.seed, config["split"])
    w_sha = weights_sha256(weights_path) if weights_path is not None else None
    key = run_key(
        task=task.name, task_version=task.version, protocol=protocol.name, protocol_version=protocol.version,
        fraction=request.fraction, seed=request.seed, backbone=spec.name, weights_sha256=w_sha,
        config_sha256=config_sha256(config), split_sha256=split.sha256,
    )  # fmt: skip
    return {
        "task": task, "protocol": protocol, "impl": impl, "prepared": prepared, "spec": spec,
        "weights_path": weights_path, "weights_sha256": w_sha, "params": params, "config": config,
        "split": split, "key": key, "layout": layout, "layout_root": layout_root, "synthetic": synthetic,
        "path": record_path(results_dir(), task.name, spec.name, key),
    }  # fmt: skip


def run_evaluation(request: RunRequest, catalog: Catalog, progress: ProgressReporter | None = None) -> RunOutcome:
    """Run one evaluation (or skip it when its ``ok`` record exists and ``force`` is off) and return its record."""
    import torch

    info = current()
    progress = progress or NullProgress()
    plan = main_first(lambda: prepare_run(request, catalog), info)
    path: Path = plan["path"]
    if broadcast_object(not request.force and is_finished(path), info):
        return RunOutcome(read_record(path) or {}, path, skipped=True)

    task, protocol, split = plan["task"], plan["protocol"], plan["split"]
    started, t0 = utc_now(), time.perf_counter()
    ctx = RunContext(
        task=task, task_impl=plan["impl"], params=plan["params"], backbone=plan["spec"],
        weights_path=plan["weights_path"], train=split.train, val=split.val, test=split.test,
        pool=plan["prepared"].table, seed=request.seed, device=torch.device(request.device),
        work_dir=path.parent / f".work-{plan['key']}", cache_dir=cache_dir(), num_workers=request.num_workers,
        progress=progress, dist=info,
    )  # fmt: skip
    status, error, metrics = "ok", None, []
    try:
        torch.manual_seed(request.seed)
        predictions = import_ref(protocol.run)(ctx)
        if info.is_main:
            metrics = plan["impl"].score(task, predictions, n_bootstrap=int(plan["config"]["eval"]["n_bootstrap"]), seed=request.seed)
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        if info.is_main:
            record = _record(request, catalog, plan, [], started, t0, status, error + "\n" + traceback.format_exc(limit=5))
            write_record(record, path)
        raise
    record = None
    if info.is_main:
        predictions_file = predictions_path(path)
        from ecamp_bench.evaluation.predictions import save_predictions

        save_predictions(predictions, predictions_file)
        record = _record(request, catalog, plan, metrics, started, t0, status, error)
        record["predictions_file"] = predictions_file.name
        write_record(record, path)
        catalog.notify_run_finished(record)
    return RunOutcome(broadcast_object(record, info), path)


def _provider(catalog: Catalog, kind: str, name: str) -> str:
    try:
        return catalog.provider(kind, name).dist_version
    except KeyError:
        return f"ecamp-bench=={__version__}"


def _record(request, catalog, plan, metrics, started, t0, status, error) -> dict:
    task, protocol, spec, split = plan["task"], plan["protocol"], plan["spec"], plan["split"]
    impl = plan["impl"]
    return {
        "schema_version": SCHEMA_VERSION,
        "run_key": plan["key"],
        "task": {"name": task.name, "version": task.version},
        "protocol": {"name": protocol.name, "version": protocol.version},
        "fraction": float(request.fraction),
        "seed": int(request.seed),
        "backbone": {
            "name": spec.name, "arch": spec.arch,
            "weights_ref": str(plan["weights_path"]) if plan["weights_path"] is not None else None,
            "weights_sha256": plan["weights_sha256"],
        },  # fmt: skip
        "config": {"resolved": plan["config"], "sha256": config_sha256(plan["config"])},
        "split": {
            "manifest": str(split.manifest_path), "sha256": split.sha256,
            "n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
        },  # fmt: skip
        "dataset": {
            "layout": task.layout, "root": str(plan["layout_root"]), "synthetic": bool(plan["synthetic"]),
            "n_images": len(plan["prepared"].table),
            "positives": {name: _positives(impl, task, t) for name, t in (("train", split.train), ("val", split.val), ("test", split.test))},
        },  # fmt: skip
        "metrics": [m.to_record() for m in metrics],
        "primary_metric": task.primary_metric.name,
        "env": environment(str(request.device), current().world_size),
        "plugins": {
            "task": _provider(catalog, "task", task.name),
            "protocol": _provider(catalog, "protocol", protocol.name),
            "backbone": _provider(catalog, "backbone", spec.name),
        },
        "timing": {"started_at": started, "finished_at": utc_now(), "wall_time_s": round(time.perf_counter() - t0, 3)},
        "status": status,
        "error": error,
    }


__all__ = ["RunOutcome", "RunRequest", "prepare_run", "run_evaluation"]
