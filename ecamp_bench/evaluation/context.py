"""The contract between the runner, task implementations and protocols.

- A **task implementation** (``TaskSpec.implementation``, ``"module:attr"``) follows :class:`TaskImplementation`:
  it turns the layout's :class:`SampleTable` into the task's samples (filters, label policy, which ids form
  the fixed test set), gives the ground truth of a table (image-level targets; masks for segmentation
  tasks, boxes for detection tasks), attaches that truth to a protocol's predictions and scores them.
- A **protocol** (``ProtocolSpec.run``, ``"module:function"``) is called with a :class:`RunContext` and
  returns :class:`Predictions` on ``ctx.test`` *without* ground truth (``targets=None``). It must train
  only on ``ctx.train`` and select on ``ctx.val``; it reads the truth it trains on through the context
  (``ctx.targets(table)``, ``ctx.mask(sample, shape)``, ``ctx.boxes(sample)``), never from the dataset's
  own fields, so a new task is a plugin file with no protocol edit.
- The runner then calls :func:`attach_truth` (the task's ``truth``) and the task's ``score``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.specs import BackboneSpec, TaskSpec

if TYPE_CHECKING:
    import torch

    from ecamp_bench.distributed import DistInfo
    from ecamp_bench.evaluation.metrics import MetricValue
    from ecamp_bench.models.backbone import Backbone


@dataclass(frozen=True)
class Predictions:
    """Test-set outputs: ``ids`` ``[N]``, ``targets`` ``[N, C]`` and ``scores`` ``[N, C]`` (probabilities or logits).

    A protocol returns ``targets=None``; the task fills in its ground truth (:func:`attach_truth`) before
    scoring, and the predictions saved next to a record carry it (so paired tests need no dataset).
    Segmentation uses ``[N, S, S]`` masks for both. ``extras`` holds task-specific arrays (numeric or str,
    no objects), e.g. detection's variable-length box lists as flat arrays plus ``[N + 1]`` offsets
    (``pred_boxes``/``pred_scores``/``pred_offsets`` from the protocol, ``gt_boxes``/``gt_offsets`` from the task).
    """

    ids: tuple[str, ...]
    targets: np.ndarray | None
    scores: np.ndarray
    label_names: tuple[str, ...] = ()
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))
        n = len(self.ids)
        if (self.targets is not None and self.targets.shape[0] != n) or self.scores.shape[0] != n:
            shape = None if self.targets is None else self.targets.shape
            raise ValueError(f"predictions: {n} ids but targets {shape} and scores {self.scores.shape}")

    def with_truth(self, targets: np.ndarray, **extras: np.ndarray) -> Predictions:
        """A copy with ``targets`` (and ground-truth ``extras``) set."""
        return Predictions(self.ids, np.asarray(targets), self.scores, self.label_names, {**self.extras, **extras})


@dataclass(frozen=True)
class PreparedTask:
    """A task's view of a dataset: its samples, and (optionally) the ids that form the fixed test and val sets.

    ``labels``, when set, replaces the task spec's labels for this data (a release with other class names,
    e.g. a binary COVIDx release); ``None`` keeps the spec's.
    """

    table: SampleTable
    fixed_test_ids: tuple[str, ...] | None = None
    stratify: tuple[str, ...] = ()
    fixed_val_ids: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None


class TaskImplementation(Protocol):
    """What ``TaskSpec.implementation`` must provide."""

    def prepare(self, spec: TaskSpec, table: SampleTable) -> PreparedTask:
        """Filter/relabel the layout's table for this task and say which ids are the fixed test set, if any."""

    def targets(self, spec: TaskSpec, table: SampleTable) -> np.ndarray:
        """The target matrix ``[N, C]`` of ``table`` (C = ``len(spec.labels)``)."""

    def truth(self, spec: TaskSpec, table: SampleTable, predictions: Predictions) -> Predictions:
        """``predictions`` (rows in ``table`` order) with this task's ground truth attached.

        Optional: without it the runner sets ``targets = self.targets(spec, table)``. Segmentation tasks give
        masks at the predictions' resolution, detection tasks add ``gt_boxes``/``gt_offsets`` extras.
        """

    def score(self, spec: TaskSpec, predictions: Predictions, *, n_bootstrap: int, seed: int) -> list[MetricValue]:
        """The metrics of ``predictions`` (truth attached; primary metric first), with bootstrap CIs."""


class SegmentationTruth(Protocol):
    """What a segmentation task adds to :class:`TaskImplementation`."""

    def mask(self, spec: TaskSpec, sample: Sample, shape: tuple[int, int]) -> np.ndarray:
        """The boolean ground-truth mask ``[H, W]`` of ``sample`` on its stored image's ``shape`` canvas."""


class DetectionTruth(Protocol):
    """What a detection task adds to :class:`TaskImplementation`."""

    def boxes(self, spec: TaskSpec, sample: Sample) -> np.ndarray:
        """The ground-truth boxes ``[G, 4]`` ``(x1, y1, x2, y2)`` of ``sample`` in stored-image pixels."""


def attach_truth(impl: TaskImplementation, spec: TaskSpec, table: SampleTable, predictions: Predictions) -> Predictions:
    """``predictions`` with the task's ground truth (and ``label_names = spec.labels`` when empty).

    Raises ``ValueError`` when the predictions do not list exactly ``table``'s ids in order (a protocol bug).
    """
    if tuple(predictions.ids) != tuple(table.ids):
        raise ValueError(
            f"the protocol returned predictions for {len(predictions.ids)} images, "
            f"not the {len(table)} test images in order"
        )
    if not predictions.label_names:
        predictions = Predictions(predictions.ids, predictions.targets, predictions.scores, tuple(spec.labels),
                                  predictions.extras)
    truth = getattr(impl, "truth", None)
    if truth is not None:
        return truth(spec, table, predictions)
    return predictions.with_truth(np.asarray(impl.targets(spec, table), dtype=np.float32))


class ProgressReporter(Protocol):
    """Progress callbacks the CLI passes in (rich bars); the library never prints."""

    def bar(self, description: str, total: int | None) -> Any:
        """A context manager yielding ``advance(n: int = 1)`` for one phase (feature extraction, training)."""

    def log(self, message: str) -> None:
        """One informational line."""


class NullProgress:
    """A :class:`ProgressReporter` that does nothing (the default for library calls and tests)."""

    @contextmanager
    def bar(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yield a no-op ``advance``."""
        yield lambda n=1: None

    def log(self, message: str) -> None:
        """Ignore ``message``."""


@dataclass
class RunContext:
    """Everything a protocol needs for one run.

    - ``task`` (the :class:`TaskSpec`: name, kind, ``labels``, options) and ``task_impl`` (its implementation);
      protocols reach the ground truth only through :meth:`targets`, :meth:`mask` and :meth:`boxes`.
    - ``params``: the protocol's resolved params dataclass; ``backbone``/``weights_path`` (``None`` = random
      init, seeded by ``seed``) and ``weights_sha256``, the file's digest computed once by the weight resolver.
    - ``train``/``val``/``test``: the run's split (train already cut to ``fraction``); ``pool`` is every
      sample of the prepared task (train ∪ val ∪ test at 100%), so protocols that cache per-image work
      (the linear protocol's features) compute it over ``pool`` once and every fraction and seed reuses it.
    - ``fraction``: the run's label fraction (e.g. 0.01), as requested.
    - ``seed``, ``device``, ``work_dir`` (scratch, removed by nobody: keep it small), ``cache_dir``,
      ``num_workers``, ``progress`` (callbacks) and ``dist`` (DDP rank info).
    """

    task: TaskSpec
    task_impl: TaskImplementation
    params: Any
    backbone: BackboneSpec
    weights_path: Path | None
    train: SampleTable
    val: SampleTable
    test: SampleTable
    pool: SampleTable
    seed: int
    fraction: float
    device: torch.device
    work_dir: Path
    cache_dir: Path
    num_workers: int = 0
    progress: ProgressReporter = field(default_factory=NullProgress)
    dist: DistInfo | None = None
    weights_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.dist is None:
            from ecamp_bench.distributed import DistInfo

            self.dist = DistInfo()

    @property
    def labels(self) -> tuple[str, ...]:
        """The task's label names (the columns of :meth:`targets`)."""
        return tuple(self.task.labels)

    def targets(self, table: SampleTable) -> np.ndarray:
        """The task's target matrix ``[N, C]`` for ``table``."""
        return np.asarray(self.task_impl.targets(self.task, table), dtype=np.float32)

    def mask(self, sample: Sample, shape: tuple[int, int]) -> np.ndarray:
        """The task's boolean mask ``[H, W]`` of ``sample`` on a ``shape`` canvas (segmentation tasks)."""
        if not hasattr(self.task_impl, "mask"):
            raise TypeError(f"task '{self.task.name}' ({self.task.kind}) provides no masks")
        return np.asarray(self.task_impl.mask(self.task, sample, tuple(shape)), dtype=bool)

    def boxes(self, sample: Sample) -> np.ndarray:
        """The task's boxes ``[G, 4]`` ``(x1, y1, x2, y2)`` of ``sample`` in stored-image pixels (detection tasks)."""
        if not hasattr(self.task_impl, "boxes"):
            raise TypeError(f"task '{self.task.name}' ({self.task.kind}) provides no boxes")
        return np.asarray(self.task_impl.boxes(self.task, sample), dtype=np.float64).reshape(-1, 4)

    def build_backbone(self, *, strict: bool = True) -> Backbone:
        """The backbone with its weights (or a seeded random init), on ``self.device``."""
        import torch

        from ecamp_bench.models.backbone import build_backbone

        torch.manual_seed(self.seed)
        return build_backbone(self.backbone, self.weights_path, strict=strict).to(self.device)

