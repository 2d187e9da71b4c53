"""Frozen, keyword-only spec dataclasses that plugins return from the catalog hooks.

Specs are *data*: names, versions, defaults and references to functions. They must be cheap to build,
so a plugin module imports torch, mmdet or mmseg only inside the functions a spec points to, never at
import time (``ecamp-bench list`` must not import torch).

Names are kebab-case and unique across all plugins. ``version`` is bumped whenever the semantics of a
spec change, and it is part of every result record's run key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ecamp_bench.data.samples import SampleTable

TaskKind = Literal["classification", "segmentation", "detection"]
TASK_KINDS: tuple[str, ...] = ("classification", "segmentation", "detection")
LabelType = Literal["multi-label", "single-label"]
LABEL_TYPES: tuple[str, ...] = ("multi-label", "single-label")
_NAME = re.compile(r"^[a-z0-9]+(?:[-:][a-z0-9]+)*$")


def check_name(name: str, what: str) -> None:
    """Raise ``ValueError`` unless ``name`` is kebab-case (lowercase words joined by ``-``)."""
    if not _NAME.match(name):
        raise ValueError(f"{what} name {name!r} is not kebab-case (lowercase letters, digits and '-')")


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One problem found while validating a dataset tree: where it is and what is wrong."""

    path: str
    message: str
    row: int | None = None
    key: str | None = None
    code: str = "invalid"

    def __str__(self) -> str:
        where = self.path + (f", row {self.row}" if self.row is not None else "")
        where += f", key '{self.key}'" if self.key is not None else ""
        return f"{where}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class LayoutSpec:
    """An official on-disk dataset layout (MIMIC-CXR-JPG, CheXpert, RSNA, SIIM, ...).

    ``detect(root)`` says whether ``root`` looks like this layout; ``read(root)`` returns the uniform
    :class:`~ecamp_bench.data.samples.SampleTable` (raising :class:`~ecamp_bench.errors.DataError` that names
    the file and row at fault); ``validate(root)`` returns *every* problem found, never raising for bad data,
    and decodes every image (a layout may accept a second argument, a
    :class:`~ecamp_bench.data.image_check.CheckOptions`, for header-only checks, parallelism and progress;
    :class:`~ecamp_bench.data.image_check.ImageChecks` does that work);
    ``write_synthetic(root, n, seed)`` writes ``n`` synthetic cases in exactly this layout.
    """

    name: str
    description: str
    citation: str
    detect: Callable[[Path], bool]
    read: Callable[[Path], SampleTable]
    validate: Callable[[Path], list[Problem]]
    write_synthetic: Callable[[Path, int, int], None]
    subdir: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "layout")


PAIRED_TESTS: tuple[str, ...] = ("auc", "bootstrap")


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """A metric a task reports. ``primary`` marks the one the leaderboard shows.

    ``paired_test`` says how two runs are compared on this metric (leaderboard ``†`` marks, ``compare``):

    - ``"auc"``: DeLong's test for a single-label AUC, a paired bootstrap of the macro-AUC difference for
      several labels (:func:`ecamp_bench.evaluation.stats.compare_auc`), on the saved targets/scores;
    - ``"bootstrap"``: a paired bootstrap of ``value_fn``, a ``"module:function"`` taking the saved
      :class:`~ecamp_bench.evaluation.context.Predictions` (truth attached) and returning
      ``{metric name: value or None}`` without bootstrap; it must live outside the task plugin's heavy code
      (the leaderboard imports it on a machine without the data);
    - ``None``: no paired test (the report says "not tested").

    Both are copied into every result record, so the leaderboard never imports a task plugin.
    """

    name: str
    higher_is_better: bool = True
    primary: bool = False
    description: str = ""
    paired_test: str | None = None
    value_fn: str | None = None

    def __post_init__(self) -> None:
        if self.paired_test is not None and self.paired_test not in PAIRED_TESTS:
            raise ValueError(f"metric {self.name!r}: paired_test {self.paired_test!r} is not one of {PAIRED_TESTS} or None")
        if self.paired_test == "bootstrap" and not self.value_fn:
            raise ValueError(f"metric {self.name!r}: paired_test 'bootstrap' needs value_fn ('module:function')")


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """A downstream task: which layout it reads, which labels and metrics it has, and its protocols.

    ``protocols[0]`` is the default protocol. ``fractions`` are the label fractions the standard protocol
    evaluates. ``options`` carries task-specific settings (e.g. CheXpert's uncertainty policy) that the
    task's own functions interpret; they enter the resolved config and therefore the run key.
    ``implementation`` points at the object (a module or class, imported lazily by the runner through
    ``"module:attr"``) that prepares samples and scores predictions for this task.

    ``label_type`` says how classification targets relate: ``multi-label`` (independent 0/1 per label; sigmoid +
    binary cross-entropy) or ``single-label`` (exactly one label per image, targets one-hot; softmax +
    cross-entropy). Per-fraction published hyper-parameters are recipes (``configs/recipes/``), not task fields.
    """

    name: str
    version: int
    kind: TaskKind
    layout: str
    labels: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]
    protocols: tuple[str, ...]
    implementation: str
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    label_type: LabelType = "multi-label"

    def __post_init__(self) -> None:
        check_name(self.name, "task")
        if self.label_type not in LABEL_TYPES:
            raise ValueError(f"task {self.name!r}: label_type {self.label_type!r} is not one of {LABEL_TYPES}")
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: kind {self.kind!r} is not one of {TASK_KINDS}")
        if not self.protocols:
            raise ValueError(f"task {self.name!r} lists no protocol")
        if sum(m.primary for m in self.metrics) != 1:
            raise ValueError(f"task {self.name!r} must mark exactly one metric as primary")

    @property
    def primary_metric(self) -> MetricSpec:
        """The metric marked ``primary``."""
        return next(m for m in self.metrics if m.primary)

    @property
    def single_label(self) -> bool:
        """Whether every image has exactly one of the labels (softmax + cross-entropy)."""
        return self.label_type == "single-label"


@dataclass(frozen=True, kw_only=True)
class ProtocolSpec:
    """An evaluation protocol (``linear``, ``finetune``, ``frozen-seg``, ``frozen-det``, ...).

    ``kinds`` lists the task kinds it supports. ``params`` is a dataclass type holding its
    hyper-parameters (defaults = the published values); ``presets`` maps preset names (e.g. ``tiny``)
    to overrides of those defaults. ``run`` is a ``"module:function"`` reference imported lazily, called
    with a ``RunContext`` and returning the task's predictions on the test split.
    """

    name: str
    version: int
    kinds: tuple[str, ...]
    params: type
    run: str
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    lineage: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "protocol")
        unknown = set(self.kinds) - set(TASK_KINDS)
        if unknown:
            raise ValueError(f"protocol {self.name!r}: unknown kinds {sorted(unknown)}")


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """An image encoder to evaluate: a timm architecture, where its weights come from, and how to feed it.

    ``weights`` is a reference resolved through the ``ecamp_bench_resolve_weights`` hook (by default a
    path, relative paths under ``pretrained/``), or ``None`` for random initialisation.
    ``adapt_state_dict`` is a ``"module:function"`` reference that maps a foreign checkpoint's state
    dict onto timm names (strip prefixes, rename, interpolate position embeddings). ``mean``/``std``
    are the normalisation the weights were trained with, applied by the harness for this backbone.
    """

    name: str
    arch: str
    weights: str | None = None
    adapt_state_dict: str | None = None
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    input_size: int = 224
    feature_indices: tuple[int, ...] | None = None
    global_pool: Literal["token", "avg"] = "avg"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "backbone")
