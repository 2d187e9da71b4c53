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
    ``write_synthetic(root, n, seed, *, size=..., workers=1, progress=None, **options)`` writes ``n`` synthetic
    cases in exactly this layout and returns the number of images written.

    The synthetic default (``ecamp_bench.data.synth.generate``) is derived from these specs: every layout with
    ``synthetic_counts`` (synthetic size → number of cases, e.g. ``{"tiny": 64, "small": 500, ...}``) is
    written under ``<root>/<subdir>``, with ``synthetic_options[size]`` as extra writer keywords. A layout
    without counts is not part of the default. ``extra_image_folders`` are folders below the root holding
    official images the layout's CSV does not label (published split lists may name them).
    """

    name: str
    description: str
    citation: str
    detect: Callable[[Path], bool]
    read: Callable[[Path], SampleTable]
    validate: Callable[[Path], list[Problem]]
    write_synthetic: Callable[..., int | None]
    subdir: str = ""
    synthetic_counts: dict[str, int] = field(default_factory=dict)
    synthetic_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_image_folders: tuple[str, ...] = ()

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
            raise ValueError(f"metric {self.name!r}: paired_test {self.paired_test!r} is not one of {PAIRED_TESTS} "
                             "or None")
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
    ``published_splits`` maps a published split's name (``mrm``, ``ecamp``, ``benchx``) to the folder below the
    splits root that holds this task's lists as that project releases them (``--split NAME``).

    ``demographics`` (classification tasks) maps a demographic axis (``sex``, ``age``) to the ``Sample.meta`` key that
    holds it in the task's layout (``{"sex": "sex", "age": "age"}``); every record then carries the primary
    metric per subgroup and the gaps (:mod:`ecamp_bench.evaluation.subgroups`). Empty: no subgroup metrics.
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
    published_splits: dict[str, str] = field(default_factory=dict)
    demographics: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, "task")
        unknown_axes = sorted(set(self.demographics) - {"sex", "age"})
        if unknown_axes:
            raise ValueError(f"task {self.name!r}: demographics axes {unknown_axes} are not 'sex' or 'age'")
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


#: Backbone family → whether timm builds it for a fixed input size (takes ``img_size``) and whether it is a token
#: model (its taps are blocks resampled to the four strides) rather than a pyramid (its taps are stages).
BACKBONE_FAMILIES: dict[str, dict[str, bool]] = {
    "vit": {"img_size": True, "token": True},
    "swin": {"img_size": True, "token": False},
    "cnn": {"img_size": False, "token": False},
    "convnext": {"img_size": False, "token": False},
}


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """An image encoder to evaluate: a timm architecture, where its weights come from, and how to feed it.

    ``weights`` is a reference resolved through the ``ecamp_bench_resolve_weights`` hook (by default a
    path, relative paths under ``pretrained/``), or ``None`` for random initialisation.
    ``adapt_state_dict`` is a ``"module:function"`` reference that maps a foreign checkpoint's state
    dict onto timm names (strip prefixes, rename, interpolate position embeddings). ``mean``/``std``
    are the normalisation the weights were trained with, applied by the harness for this backbone.

    ``family`` says how the network is built and tapped (:data:`BACKBONE_FAMILIES`): ``vit`` (a token model:
    ``img_size`` set to ``input_size``, taps are blocks resampled to the four strides), ``swin`` (a hierarchical
    transformer: ``img_size`` set, taps are its stages), ``cnn``/``convnext`` (pyramids: any input size, taps are
    stages). Empty: decided from a weightless build (token model or not), as for ``file:`` and ``timm:`` names.
    """

    name: str
    arch: str
    family: str = ""
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
        if self.family and self.family not in BACKBONE_FAMILIES:
            known = sorted(BACKBONE_FAMILIES)
            raise ValueError(f"backbone {self.name!r}: family {self.family!r} is not one of {known}")


def plain_data(value: Any) -> Any:
    """``value`` as plain JSON-able data: tuples become lists, dicts are copied (recursively)."""
    if isinstance(value, (tuple, list)):
        return [plain_data(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_data(v) for k, v in value.items()}
    return value


_TUPLE_FIELDS = ("mean", "std", "feature_indices")


def backbone_to_data(spec: BackboneSpec, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The spec codec, one way: ``spec`` (or only its fields ``names``) as plain data, for a record's resolved
    config or an OpenMMLab config dict (which must hold plain data)."""
    from dataclasses import fields

    chosen = names if names is not None else tuple(f.name for f in fields(BackboneSpec))
    return {name: plain_data(getattr(spec, name)) for name in chosen}


def backbone_from_data(data: Any, base: BackboneSpec | None = None) -> BackboneSpec:
    """The spec codec, the other way: a :class:`BackboneSpec` from :func:`backbone_to_data`'s form (a spec passes
    through). With ``base``, ``data`` may hold only some fields and replaces those of ``base``. Unknown keys raise
    ``ConfigError`` naming them; lists become tuples."""
    from dataclasses import fields, replace

    from ecamp_bench.errors import ConfigError

    if isinstance(data, BackboneSpec):
        return data
    names = {f.name for f in fields(BackboneSpec)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown backbone spec keys {sorted(unknown)} (valid: {sorted(names)})")
    values = dict(data)
    for key in _TUPLE_FIELDS:
        if values.get(key) is not None:
            values[key] = tuple(int(v) for v in values[key]) if key == "feature_indices" else tuple(values[key])
    if "model_kwargs" in values:
        values["model_kwargs"] = dict(values["model_kwargs"] or {})
    return replace(base, **values) if base is not None else BackboneSpec(**values)
