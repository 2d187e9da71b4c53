"""The runner: (task, protocol, backbone, fraction, seed) → one result record in ``results/runs/``.

Steps: read the task's layout from the data root, let the task implementation prepare its samples, split
them (test/val fixed by ``split.seed``; the label-fraction subset of train drawn with the run seed), resolve
the backbone, resolve the typed config (:func:`~ecamp_bench.evaluation.eval_config.resolve_eval_config`: protocol
defaults ← recipe cell ← preset ← ``--set``; the recipe's name and sha256 enter the config, hence the run key; its
published split applies unless ``split``),
compute the run key — all of which :func:`prepare_run` returns as one typed :class:`RunPlan` — then
:func:`run_plan` skips when an ``ok`` record exists (unless ``force``), runs the protocol, lets the task
attach its ground truth to the test predictions and score them, and writes the predictions and the typed
:class:`~ecamp_bench.results.record.ResultRecord` atomically. A sweep prepares each cell once (sharing one
:class:`TableCache`, so a layout is read once per sweep) and runs the same plan.

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
from ecamp_bench.data.samples import SampleTable
from ecamp_bench.distributed import broadcast_object, current, main_first, reproducible_kernels
from ecamp_bench.errors import ConfigError, DataError, EcampBenchError, NonFiniteError
from ecamp_bench.evaluation.context import NullProgress, PreparedTask, ProgressReporter, RunContext, attach_truth
from ecamp_bench.evaluation.finite import require_finite_predictions
from ecamp_bench.evaluation.classification_extras import (
    extra_metric_spec,
    extra_metrics,
    subgroup_section,
    with_demographics,
    write_reliability,
)
from ecamp_bench.evaluation.cost import encoder_cost
from ecamp_bench.evaluation.eval_config import EvalConfig, RecipeRef, resolve_eval_config
from ecamp_bench.evaluation.recipes import check_cell, load_recipe
from ecamp_bench.evaluation.sample_size import small_test_set_reasons, small_train_set_reasons
from ecamp_bench.evaluation.splitting import SplitResult, split_for_run, split_from_published
from ecamp_bench.models.backbone import import_ref
from ecamp_bench.models.backbone_refs import resolve_backbone
from ecamp_bench.models.checkpoints import utc_now
from ecamp_bench.paths import cache_dir, results_dir
from ecamp_bench.plugins import Catalog
from ecamp_bench.results.record import (
    SCHEMA_VERSION, BackboneRef, ConfigRef, MetricRecord, NameVersion, ResultRecord, SplitRef, Timing, environment,
    predictions_path, record_path, run_key, try_read_record, write_record,
)
from ecamp_bench.results.store import is_finished
from ecamp_bench.specs import BackboneSpec, LayoutSpec, ProtocolSpec, TaskSpec

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
    split: str | None = None  # a published split (mrm, ecamp, benchx or a folder of lists); None = the recipe's or ours
    splits_root: Path | None = None  # where the published lists are (None: $ECAMP_BENCH_SPLITS)
    allow_split_overlap: bool = False
    recipe: str | None = None  # a recipe name (configs/recipes/) or YAML path; None = the protocol's defaults


OUR_SPLIT = "ours"  # ``--split ours``: our own seeded split even where the recipe names published lists


@dataclass(frozen=True)
class RunPlan:
    """Everything about one run except its training: built once by :func:`prepare_run`, run by :func:`run_plan`.

    ``eval_config`` is the typed resolved configuration (``config`` its plain data, hashed as ``config_sha256``);
    ``key`` the run key and ``path`` the record file it names; ``prepared`` the task's samples, ``split`` the
    run's train/val/test.
    """

    request: RunRequest
    task: TaskSpec
    protocol: ProtocolSpec
    impl: object
    backbone: BackboneSpec
    weights_path: Path | None
    weights_sha256: str | None
    eval_config: EvalConfig
    layout: LayoutSpec
    layout_root: Path
    synthetic: bool
    prepared: PreparedTask
    split: SplitResult
    key: str
    path: Path

    @property
    def params(self):
        """The protocol's resolved params dataclass."""
        return self.eval_config.protocol

    @property
    def config(self) -> dict:
        """The resolved config as plain data (what the record stores and the run key hashes)."""
        return self.eval_config.to_data()

    @property
    def config_sha256(self) -> str:
        """The hex sha256 of :attr:`config`."""
        return self.eval_config.sha256

    @property
    def predictions_path(self) -> Path:
        """Where the run's test predictions go (next to the record)."""
        return predictions_path(self.path)


@dataclass
class RunOutcome:
    """The record of a run, where it lives, and whether it was skipped because it already existed."""

    record: ResultRecord
    path: Path
    skipped: bool = False
    note: str | None = None  # a line the user must see about a reused record (made on another device)


class TableCache:
    """Memoises layout reads and task preparation within one process (a sweep), so each is done once.

    Keys: ``(layout name, resolved root)`` for the layout's table, plus the task's name, version and
    options for the prepared task. Reading a layout can be slow (DICOM headers), so a sweep of many cells
    on one dataset reads it once.
    """

    def __init__(self) -> None:
        self._tables: dict[tuple, object] = {}
        self._prepared: dict[tuple, PreparedTask] = {}

    def table(self, layout: LayoutSpec, root: Path) -> SampleTable:
        """The table ``layout`` reads at ``root`` (read on first use)."""
        table_key = (layout.name, str(Path(root).resolve()))
        if table_key not in self._tables:
            self._tables[table_key] = layout.read(root)
        return self._tables[table_key]

    def prepared(self, layout: LayoutSpec, root: Path, task: TaskSpec, impl) -> PreparedTask:
        """The prepared task of ``task`` on ``layout`` at ``root`` (read and prepared on first use)."""
        from ecamp_bench.config import canonical_json

        table = self.table(layout, root)
        key = (layout.name, str(Path(root).resolve()), task.name, task.version, task.implementation,
               canonical_json(task.options))
        if key not in self._prepared:
            self._prepared[key] = impl.prepare(task, table)
        return self._prepared[key]


def _default_data_root() -> tuple[Path, bool]:
    from ecamp_bench.data.synth import ensure_synthetic_default

    from ecamp_bench.progress import counts_progress

    return Path(ensure_synthetic_default(progress=counts_progress("generating the synthetic default:"))), True


def check_device(device: str) -> None:
    """Refuse, before anything runs or is recorded, a device this torch build cannot use (``cuda`` on a CPU
    build, a GPU index that does not exist)."""
    import torch

    name = str(device)
    if not name.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + (" (a CPU-only build)" if torch.version.cuda is None else "")
        raise EcampBenchError(f"--device {name}: CUDA is not available here ({build}); use --device cpu or auto")
    index = name.partition(":")[2]
    if index and int(index) >= torch.cuda.device_count():
        raise EcampBenchError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _positives(impl, task, table: SampleTable) -> dict[str, int]:
    if not len(table):
        return {label: 0 for label in task.labels}
    targets = np.asarray(impl.targets(task, table))
    return {label: int((targets[:, c] == 1).sum()) for c, label in enumerate(task.labels)}


def prepare_run(request: RunRequest, catalog: Catalog, tables: TableCache | None = None) -> RunPlan:
    """Everything but the training: specs, data, split, resolved config and run key (for ``eval``, sweeps, dry runs).

    ``tables`` shares layout reads between plans (a sweep passes one cache for all its cells).
    """
    from ecamp_bench.seeds import check_seed

    check_seed(request.seed, "seed")
    task = catalog.task(request.task)
    protocol = catalog.protocol(request.protocol or task.protocols[0])
    if task.kind not in protocol.kinds:
        raise EcampBenchError(f"protocol '{protocol.name}' runs {' and '.join(protocol.kinds)} tasks, not task "
                              f"'{task.name}' ({task.kind}); its protocols: {', '.join(task.protocols)}")
    check_device(request.device)
    resolved = resolve_backbone(catalog, request.backbone, request.weights)
    weights_path = resolved.weights_path
    recipe = load_recipe(request.recipe) if request.recipe else None
    cell = recipe.cell(task.name, protocol.name, request.fraction) if recipe is not None else None
    if cell is not None:
        check_cell(cell, protocol.params, recipe)
    split_name = request.split if request.split is not None else (recipe.split if recipe is not None else None)
    split_name = None if split_name == OUR_SPLIT else split_name
    recipe_ref = None if recipe is None else RecipeRef(
        recipe.name, recipe.sha256, None if cell is None else {"task": cell.task, "fraction": cell.fraction})
    eval_config = resolve_eval_config(task=task, protocol=protocol, backbone=resolved.spec, preset=request.preset,
                                      recipe=recipe_ref, recipe_values=cell.overrides() if cell is not None else None,
                                      overrides=request.overrides)
    spec = eval_config.backbone
    if weights_path is not None:  # a file that would not load is refused now, before anything is recorded
        from ecamp_bench.models.backbone import check_weights_fit

        check_weights_fit(spec, weights_path)
    if eval_config.task.options != dict(task.options):
        task = replace(task, options=dict(eval_config.task.options))
    data_root, synthetic = (Path(request.data_root), False) if request.data_root else _default_data_root()
    if not synthetic:
        from ecamp_bench.data.synth import read_marker

        synthetic = read_marker(data_root) is not None
    from ecamp_bench.data.roots import find_layout_root

    layout = catalog.layout(task.layout)
    layout_root = find_layout_root(layout, data_root)
    impl = import_ref(task.implementation)
    tables = tables or TableCache()
    if split_name:
        from ecamp_bench.data.published_splits import apply_to_table, resolve_published_split

        table = tables.table(layout, layout_root)
        try:
            published = resolve_published_split(split_name, task=task.name, labels=task.labels, table=table,
                                                fraction=request.fraction, root=request.splits_root,
                                                allow_overlap=request.allow_split_overlap,
                                                single_label=task.single_label)
        except EcampBenchError as exc:
            if request.split is not None or recipe is None:
                raise
            raise ConfigError(f"{exc} (recipe '{recipe.name}' runs on the {split_name} lists; --split {OUR_SPLIT} "
                              "evaluates on our own seeded split)") from exc
        eval_config = eval_config.with_published_split(published.name, request.allow_split_overlap)
        prepared = impl.prepare(task, apply_to_table(published, table, task.labels))
    else:
        prepared = tables.prepared(layout, layout_root, task, impl)
    if prepared.labels is not None and tuple(prepared.labels) != task.labels:
        task = replace(task, labels=tuple(prepared.labels))
    if not len(prepared.table):
        raise DataError(f"task '{task.name}': no usable samples", path=layout_root)
    if split_name:
        split: SplitResult = split_from_published(prepared, task, published, request.fraction, request.seed)
    else:
        split = split_for_run(prepared, impl, task, request.fraction, request.seed, eval_config.split)
    w_sha = resolved.weights_sha256
    c_sha = eval_config.sha256
    key = run_key(
        task=task.name, task_version=task.version, protocol=protocol.name, protocol_version=protocol.version,
        fraction=request.fraction, seed=request.seed, backbone=spec.name, weights_sha256=w_sha,
        config_sha256=c_sha, split_sha256=split.sha256,
    )
    return RunPlan(
        request=request, task=task, protocol=protocol, impl=impl, backbone=spec, weights_path=weights_path,
        weights_sha256=w_sha, eval_config=eval_config, layout=layout,
        layout_root=layout_root, synthetic=synthetic, prepared=prepared, split=split, key=key,
        path=record_path(results_dir(), task.name, spec.name, key),
    )


def run_evaluation(request: RunRequest, catalog: Catalog, progress: ProgressReporter | None = None) -> RunOutcome:
    """Prepare and run one evaluation (or skip it when its ``ok`` record exists and ``force`` is off)."""
    plan = main_first(lambda: prepare_run(request, catalog), current())
    return run_plan(plan, catalog, progress)


def make_context(plan: RunPlan, progress: ProgressReporter | None = None, info=None) -> RunContext:
    """The :class:`RunContext` a protocol receives for ``plan`` (``info``: this process's DDP rank info)."""
    import torch

    split, request = plan.split, plan.request
    return RunContext(
        task=plan.task, task_impl=plan.impl, params=plan.params, backbone=plan.backbone, weights_path=plan.weights_path,
        weights_sha256=plan.weights_sha256, train=split.train, val=split.val, test=split.test, pool=plan.prepared.table,
        seed=request.seed, fraction=float(request.fraction), device=torch.device(request.device),
        work_dir=plan.path.parent / f".work-{plan.key}", cache_dir=cache_dir(), num_workers=request.num_workers,
        progress=progress or NullProgress(), dist=info if info is not None else current(),
    )


def run_plan(plan: RunPlan, catalog: Catalog, progress: ProgressReporter | None = None) -> RunOutcome:
    """Run a prepared plan (or skip it when its ``ok`` record exists and ``force`` is off) and return its record.

    The run's scratch folder (``.work-<run key>`` next to the record) is removed afterwards, also after a failure
    or an interrupt."""
    info = current()
    progress = progress or NullProgress()
    request, path = plan.request, plan.path
    if broadcast_object(not request.force and is_finished(path), info):
        existing = try_read_record(path)
        if existing is not None:
            return RunOutcome(existing, path, skipped=True, note=device_reuse_note(existing, request.device))
    task = plan.task
    started, t0 = utc_now(), time.perf_counter()
    if hasattr(progress, "with_prefix"):  # name the run in every progress line (ecamp_bench.progress.Progress)
        from ecamp_bench.leaderboard.aggregate import format_fraction

        progress = progress.with_prefix(f"{task.name} {format_fraction(request.fraction)} {plan.protocol.name} "
                                        f"seed {request.seed}")
    ctx = make_context(plan, progress, info)
    try:
        return _run(plan, catalog, ctx, info, started, t0)
    finally:
        if info.is_main:  # the scratch folder of the run goes, whatever happened (ok, failed or interrupted)
            import shutil

            shutil.rmtree(ctx.work_dir, ignore_errors=True)


def _run(plan: RunPlan, catalog: Catalog, ctx: RunContext, info, started: str, t0: float) -> RunOutcome:
    import torch

    request, path, task, split = plan.request, plan.path, plan.task, plan.split
    try:
        reproducible_kernels(ctx.device)
        torch.manual_seed(request.seed)
        predictions = _named_nonfinite(plan, lambda: import_ref(plan.protocol.run)(ctx))
        metrics = []
        if info.is_main:
            require_finite_predictions(predictions, backbone=plan.backbone.name, task=task.name)
            predictions = with_demographics(task, split.test, attach_truth(plan.impl, task, split.test, predictions))
            n_bootstrap = plan.eval_config.eval.n_bootstrap
            metrics = plan.impl.score(task, predictions, n_bootstrap=n_bootstrap, seed=request.seed)
            metrics = [*metrics, *extra_metrics(task, predictions, n_bootstrap=n_bootstrap, seed=request.seed)]
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if info.is_main:
            failed = build_record(plan, catalog, [], started, t0, "failed",
                                  error + "\n" + traceback.format_exc(limit=5))
            write_record(failed, path)
        raise
    record = None
    if info.is_main:
        from ecamp_bench.evaluation.predictions import save_predictions

        save_predictions(predictions, plan.predictions_path)
        title = f"{task.name} {plan.protocol.name} {plan.backbone.name} fraction {request.fraction:g}"
        title += f" seed {request.seed}"
        write_reliability(task, predictions, path, title)
        record = build_record(plan, catalog, metrics, started, t0, "ok", None, plan.predictions_path.name)
        section = subgroup_section(task, predictions)
        record = record.replace(cost=encoder_cost(plan.backbone, ctx.device, cache_dir()),
                                dataset={**record.dataset, **({"subgroups": section} if section else {})})
        write_record(record, path)
        catalog.notify_run_finished(record)
    return RunOutcome(broadcast_object(record, info), path)


def device_reuse_note(record: ResultRecord, device: str) -> str | None:
    """The line to print when a finished ``record`` is reused for a run asked on ``device`` but was made on a
    device of another type (``cpu`` vs ``cuda``; ``cuda:0`` and ``cuda:1`` are the same type); else ``None``.

    The device is not part of the run key: a run key names the experiment (task, protocol, weights, resolved
    config, split, seed), which a CPU and a GPU measure alike up to floating-point non-determinism, so one
    record serves both and the leaderboard never splits a backbone's row by device. Reuse is never silent,
    though: ``--force`` reruns the cell on the device asked for.
    """
    made_on = str((record.env or {}).get("device") or "unknown")
    if made_on.split(":")[0] == str(device).split(":")[0]:
        return None
    return (f"reusing the record made on {made_on} (this run asked for {device}); "
            f"use --force to rerun it on {device}")


def _named_nonfinite(plan: RunPlan, body):
    """``body()``, with a :class:`NonFiniteError` raised inside the protocol re-raised naming the backbone and task."""
    try:
        return body()
    except NonFiniteError as exc:
        raise NonFiniteError(f"backbone '{plan.backbone.name}' on task '{plan.task.name}': {exc}; "
                             "no result is recorded") from None


def _provider(catalog: Catalog, kind: str, name: str) -> str:
    try:
        return catalog.provider(kind, name).dist_version
    except KeyError:
        return f"ecamp-bench=={__version__}"


def metric_records(task: TaskSpec, metrics) -> tuple[MetricRecord, ...]:
    """The scored metrics with their ``MetricSpec``'s paired test and value function (``auc/<label>`` → ``auc``'s)."""
    specs = {m.name: m for m in task.metrics}
    out = []
    for m in metrics:
        spec = specs.get(m.name) or specs.get(m.name.split("/", 1)[0]) or extra_metric_spec(m.name)
        out.append(MetricRecord(
            name=m.name, value=None if m.value is None else float(m.value), higher_is_better=bool(m.higher_is_better),
            ci95=tuple(float(x) for x in m.ci95) if m.ci95 is not None else None, n=int(m.n),
            paired_test=spec.paired_test if spec is not None else None,
            value_fn=spec.value_fn if spec is not None else None,
        ))
    return tuple(out)


def build_record(plan: RunPlan, catalog: Catalog, metrics, started: str, t0: float, status: str, error: str | None,
                 predictions_file: str | None = None) -> ResultRecord:
    """The typed record of ``plan`` with ``metrics`` (``MetricValue`` list) and the run's status."""
    task, protocol, spec, split, request = plan.task, plan.protocol, plan.backbone, plan.split, plan.request
    return ResultRecord(
        run_key=plan.key,
        task=NameVersion(task.name, task.version),
        protocol=NameVersion(protocol.name, protocol.version),
        fraction=float(request.fraction),
        seed=int(request.seed),
        backbone=BackboneRef(spec.name, spec.arch, str(plan.weights_path) if plan.weights_path is not None else None,
                             plan.weights_sha256),
        config=ConfigRef(plan.config, plan.config_sha256),
        split=SplitRef(str(split.manifest_path), split.sha256, len(split.train), len(split.val), len(split.test),
                       split.base_sha256, split.published),
        dataset=dataset_section(plan),
        metrics=metric_records(task, metrics),
        primary_metric=task.primary_metric.name,
        env=environment(str(request.device), current().world_size),
        plugins={
            "task": _provider(catalog, "task", task.name),
            "protocol": _provider(catalog, "protocol", protocol.name),
            "backbone": _provider(catalog, "backbone", spec.name),
        },
        timing=Timing(started, utc_now(), round(time.perf_counter() - t0, 3)),
        status=status,
        error=error,
        predictions_file=predictions_file,
        schema_version=SCHEMA_VERSION,
    )


def _small_train(plan: RunPlan) -> dict:
    """``{"small_train_set": reasons}`` for a classification run whose training subset is too small, else ``{}``
    (records of larger cells stay as they were)."""
    if plan.task.kind != "classification":
        return {}
    reasons = small_train_set_reasons(len(plan.split.train), _positives(plan.impl, plan.task, plan.split.train))
    return {"small_train_set": reasons} if reasons else {}


def dataset_section(plan: RunPlan) -> dict:
    """The record's ``dataset``: layout, root, synthetic marker (copied, so the report needs no data), sizes,
    positives."""
    from ecamp_bench.data.synth import read_marker

    split, impl, task = plan.split, plan.impl, plan.task
    marker = None
    for folder in (Path(plan.layout_root), *list(Path(plan.layout_root).parents)[:3]):
        marker = read_marker(folder)
        if marker is not None:
            break
    return {
        "layout": task.layout, "root": str(plan.layout_root), "synthetic": bool(plan.synthetic) or marker is not None,
        "synthetic_marker": marker, "n_images": len(plan.prepared.table),
        "positives": {
            name: _positives(impl, task, t)
            for name, t in (("train", split.train), ("val", split.val), ("test", split.test))
        },
        "small_test_set": small_test_set_reasons(len(split.test), _positives(impl, task, split.test)),
        **_small_train(plan),
    }


__all__ = [
    "RunOutcome", "RunPlan", "RunRequest", "TableCache", "build_record", "device_reuse_note", "make_context",
    "prepare_run", "run_evaluation", "run_plan",
]
