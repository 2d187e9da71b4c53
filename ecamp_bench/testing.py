"""Contract checks for plugin authors: ``check_layout``, ``check_task``, ``check_protocol``, ``check_backbone``.

Each takes a registered spec (and, where it needs data, a folder for synthetic data) and raises
:class:`ContractError` naming the spec and the broken promise; it returns what it built so a test can
look further. ecamp-bench's own suite runs them over every registered spec
(``tests/contract/test_catalog.py``); a third-party plugin can do the same in its tests::

    from ecamp_bench.plugins import get_catalog
    from ecamp_bench.testing import check_task

    def test_my_task(tmp_path):
        check_task(get_catalog().task("my-task"), tmp_path)

Tasks and protocols are checked on the tiny synthetic data of their layout (written by the layout's
``write_synthetic``), protocols with their ``tiny`` preset. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecamp_bench.errors import EcampBenchError
from ecamp_bench.specs import BackboneSpec, LayoutSpec, ProtocolSpec, TaskSpec

N_SYNTHETIC = 40


class ContractError(EcampBenchError):
    """A spec or its implementation breaks the plugin contract (the message names the spec and the promise)."""


def _require(condition: bool, what: str, message: str) -> None:
    if not condition:
        raise ContractError(f"{what}: {message}")


def _catalog(catalog):
    if catalog is not None:
        return catalog
    from ecamp_bench.plugins import get_catalog

    return get_catalog()


def synthetic_root(layout: LayoutSpec, folder: Path, n: int = N_SYNTHETIC, seed: int = 0) -> Path:
    """``folder/<layout.subdir or name>`` with ``n`` synthetic cases of ``layout`` (written once, then reused)."""
    root = Path(folder) / (layout.subdir or layout.name)
    if not (root.is_dir() and layout.detect(root)):
        layout.write_synthetic(root, n, seed)
    return root


def check_layout(spec: LayoutSpec, folder: Path, *, n: int = N_SYNTHETIC):
    """Write ``n`` synthetic cases, then: ``detect`` is true, ``validate`` finds nothing, ``read`` gives ``n``
    samples with unique ids and existing image files, and ``detect`` is false on an empty folder."""
    what = f"layout '{spec.name}'"
    root = synthetic_root(spec, folder, n)
    _require(spec.detect(root), what, f"detect() is false on its own synthetic data at {root}")
    problems = spec.validate(root)
    _require(not problems, what,
             f"validate() reports problems on its own synthetic data: {[str(p) for p in problems[:3]]}")
    table = spec.read(root)
    _require(len(table) > 0, what, "read() returned no samples from its synthetic data")
    _require(len(set(table.ids)) == len(table), what, "read() returned duplicate image ids")
    missing = [s.image_path for s in table if not Path(s.image_path).is_file()]
    _require(not missing, what, f"samples point to missing image files, e.g. {missing[:1]}")
    empty = Path(folder) / f"empty-{spec.name}"
    empty.mkdir(parents=True, exist_ok=True)
    _require(not spec.detect(empty), what, "detect() is true on an empty folder")
    return table


def check_task(spec: TaskSpec, folder: Path, catalog=None):
    """On synthetic data of the task's layout: ``prepare`` keeps samples, ``targets`` is ``[N, C]`` of 0/1/NaN,
    the kind's truth hooks exist (``mask`` for segmentation, ``boxes`` for detection), ``truth`` attaches
    ground truth to bare predictions, and ``score`` returns the primary metric first, with names the spec
    declares (``auc/<label>`` counts as ``auc``'s) and ``higher_is_better`` as declared."""
    from ecamp_bench.evaluation.context import Predictions, PreparedTask, attach_truth
    from ecamp_bench.evaluation.metrics import MetricValue
    from ecamp_bench.models.backbone import import_ref

    what = f"task '{spec.name}'"
    catalog = _catalog(catalog)
    layout = catalog.layout(spec.layout)
    impl = import_ref(spec.implementation)
    for method in ("prepare", "targets", "score"):
        _require(callable(getattr(impl, method, None)), what, f"implementation {spec.implementation} has no {method}()")
    if spec.kind == "segmentation":
        _require(callable(getattr(impl, "mask", None)), what,
                 "a segmentation task must define mask(spec, sample, shape)")
    if spec.kind == "detection":
        _require(callable(getattr(impl, "boxes", None)), what, "a detection task must define boxes(spec, sample)")
    prepared = impl.prepare(spec, layout.read(synthetic_root(layout, folder)))
    _require(isinstance(prepared, PreparedTask), what,
             f"prepare() returned {type(prepared).__name__}, not PreparedTask")
    table = prepared.table
    _require(len(table) > 0, what, "prepare() kept no sample of the synthetic data")
    targets = np.asarray(impl.targets(spec, table), dtype=float)
    _require(targets.shape == (len(table), len(spec.labels)), what,
             f"targets() has shape {targets.shape}, expected {(len(table), len(spec.labels))}")
    _require(bool(np.isin(targets[~np.isnan(targets)], (0.0, 1.0)).all()), what,
             "targets() holds values other than 0, 1, NaN")
    rng = np.random.default_rng(0)
    if spec.kind == "segmentation":
        first = table[0]
        shape = (first.height, first.width) if first.height and first.width else None
        if shape is not None:
            mask = np.asarray(impl.mask(spec, first, shape))
            _require(mask.shape == shape and mask.dtype == bool, what,
                     f"mask() gave {mask.shape} {mask.dtype}, expected bool {shape}")
        scores = (rng.random((len(table), 16, 16)) > 0.5).astype(np.uint8)
        extras: dict[str, Any] = {}
    elif spec.kind == "detection":
        boxes = np.asarray(impl.boxes(spec, table[0]), dtype=float)
        _require(boxes.ndim == 2 and boxes.shape[1] == 4, what, f"boxes() gave shape {boxes.shape}, expected [G, 4]")
        scores = rng.random((len(table), 1)).astype(np.float32)
        extras = {"pred_boxes": np.tile([[10.0, 10.0, 40.0, 40.0]], (len(table), 1)).astype(np.float32),
                  "pred_scores": scores[:, 0].copy(), "pred_offsets": np.arange(len(table) + 1)}
    else:
        scores = rng.random((len(table), len(spec.labels))).astype(np.float32)
        extras = {}
    bare = Predictions(tuple(table.ids), None, scores, (), extras)
    scored = attach_truth(impl, spec, table, bare)
    _require(scored.targets is not None and len(scored.targets) == len(table), what,
             "truth() attached no targets for every image")
    metrics = impl.score(spec, scored, n_bootstrap=5, seed=0)
    _require(bool(metrics) and all(isinstance(m, MetricValue) for m in metrics), what,
             "score() must return MetricValues")
    _require(metrics[0].name == spec.primary_metric.name, what,
             f"score() lists {metrics[0].name!r} first, not the primary metric {spec.primary_metric.name!r}")
    declared = {m.name: m for m in spec.metrics}
    for m in metrics:
        decl = declared.get(m.name) or declared.get(m.name.split("/", 1)[0])
        _require(decl is not None, what, f"score() reports {m.name!r}, which TaskSpec.metrics does not declare")
        _require(m.higher_is_better == decl.higher_is_better, what,
                 f"metric {m.name!r}: higher_is_better differs from its MetricSpec")
    return metrics


#: The random-init backbone each family is checked with, and the overrides that make it tiny (64 px).
FAMILY_BACKBONES = {
    "vit": ("random-init", ["backbone.input_size=64",
                            "backbone.model_kwargs={depth: 2, embed_dim: 32, num_heads: 2, img_size: 64}"]),
    "resnet": ("random-r50", ["backbone.input_size=64",  # the ResNet-50 layout, one bottleneck per stage
                              "backbone.model_kwargs={layers: [1, 1, 1, 1], base_width: 16}"]),
}


#: The largest training budget of a contract run, applied to whichever of these fields a protocol's params
#: dataclass has: a field's ``tiny`` value is lowered to at most this, a 0 (the knob is off) stays 0. A protocol
#: with other budget knobs declares a ``contract`` preset instead.
CONTRACT_BUDGET: dict[str, int] = {"steps": 4, "eval_every": 2, "iters": 4, "val_interval": 2, "max_epochs": 2,
                                   "epochs": 1, "patience": 1}


def contract_overrides(spec: ProtocolSpec) -> list[str]:
    """``--set`` overrides that make ``spec`` run in seconds: its ``contract`` preset when it declares one, else
    :data:`CONTRACT_BUDGET` on the fields its params dataclass has."""
    from ecamp_bench.evaluation.params import protocol_params

    if "contract" in spec.presets:
        return [f"protocol.{k}={v}" for k, v in spec.presets["contract"].items()]
    tiny = protocol_params(spec, "tiny")
    out = []
    for name, budget in CONTRACT_BUDGET.items():
        value = getattr(tiny, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out.append(f"protocol.{name}={min(value, budget)}")
    return out


def check_protocol(
    spec: ProtocolSpec, folder: Path, catalog=None, *, task: str | None = None, overrides=None, family: str = "vit"
):
    """Run the protocol (``tiny`` preset, 100% fraction, a tiny random-init backbone of ``family``: a 2-block ViT or
    a one-bottleneck-per-stage ResNet-50, at 64 px) on synthetic data of the first task that lists it (or
    ``task``): it must return :class:`Predictions` for exactly the test ids, in order, with no ground truth
    (``targets=None``), finite scores, and a run the task can score. ``overrides`` default to
    :func:`contract_overrides` (a short training budget)."""
    import torch

    from ecamp_bench.evaluation.context import Predictions, attach_truth
    from ecamp_bench.evaluation.runner import RunRequest, make_context, prepare_run
    from ecamp_bench.models.backbone import import_ref

    what = f"protocol '{spec.name}'"
    catalog = _catalog(catalog)
    _require("tiny" in spec.presets, what, "has no 'tiny' preset (needed for CPU smoke runs and this check)")
    names = [task] if task else [t.name for t in catalog.specs["task"].values() if spec.name in t.protocols]
    _require(bool(names), what, "no registered task lists it")
    task_spec = catalog.task(names[0])
    layout = catalog.layout(task_spec.layout)
    data_root = synthetic_root(layout, folder)
    _require(family in FAMILY_BACKBONES, what,
             f"unknown backbone family {family!r} (known: {sorted(FAMILY_BACKBONES)})")
    backbone, tiny = FAMILY_BACKBONES[family]
    small = [*tiny, "eval.n_bootstrap=5", *(contract_overrides(spec) if overrides is None else overrides)]
    request = RunRequest(task=task_spec.name, fraction=1.0, protocol=spec.name, backbone=backbone,
                         data_root=data_root, preset="tiny", overrides=small)
    plan = prepare_run(request, catalog)
    torch.manual_seed(0)
    predictions = import_ref(spec.run)(make_context(plan))
    _require(isinstance(predictions, Predictions), what,
             f"run() returned {type(predictions).__name__}, not Predictions")
    _require(tuple(predictions.ids) == tuple(plan.split.test.ids), what,
             "predictions do not list the test ids in order")
    _require(predictions.targets is None, what, "returned ground truth (targets); the task attaches it")
    _require(bool(np.isfinite(np.asarray(predictions.scores, dtype=float)).all()), what, "scores are not all finite")
    metrics = plan.impl.score(plan.task, attach_truth(plan.impl, plan.task, plan.split.test, predictions),
                              n_bootstrap=5, seed=0)
    _require(metrics[0].name == task_spec.primary_metric.name, what, "its predictions cannot be scored by the task")
    return predictions


def check_backbone(spec: BackboneSpec, catalog=None):
    """The architecture builds (weightless, on the meta device) with a global feature and four multi-scale maps
    (valid ``feature_indices`` taps of its timm ``feature_info``, a ViT's blocks or a CNN's stages),
    ``mean``/``std`` have one value per input channel, and ``adapt_state_dict`` imports. Returns its
    :class:`~ecamp_bench.models.backbone.BackboneLayout`."""
    from ecamp_bench.models.backbone import describe_backbone, import_ref

    what = f"backbone '{spec.name}'"
    _require(len(spec.mean) == len(spec.std) == 3, what, f"mean/std need 3 values, got {spec.mean} / {spec.std}")
    _require(spec.input_size > 0, what, f"input_size must be positive, got {spec.input_size}")
    if spec.adapt_state_dict:
        _require(callable(import_ref(spec.adapt_state_dict)), what,
                 f"adapt_state_dict {spec.adapt_state_dict} is not callable")
    try:
        layout = describe_backbone(spec)
    except EcampBenchError as exc:
        raise ContractError(f"{what}: {exc}") from exc
    _require(layout.num_features > 0, what, "the model reports no num_features")
    _require(len(layout.out_channels) == 4 and min(layout.out_channels) > 0, what,
             f"multi-scale maps need 4 levels with channels, got {layout.out_channels}")
    return layout


__all__ = ["FAMILY_BACKBONES", "ContractError", "check_backbone", "check_layout", "check_protocol", "check_task",
           "synthetic_root"]
