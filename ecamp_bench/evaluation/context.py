"""The contract between the runner, task implementations and protocols.

- A **task implementation** (``TaskSpec.implementation``, ``"module:attr"``) follows :class:`TaskImplementation`:
  it turns the layout's :class:`SampleTable` into the task's samples (filters, label policy, which ids form
  the fixed test set), gives the target matrix of a table, and scores :class:`Predictions`.
- A **protocol** (``ProtocolSpec.run``, ``"module:function"``) is called with a :class:`RunContext` and
  returns :class:`Predictions` on ``ctx.test``. It must train only on ``ctx.train`` and select on ``ctx.val``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ecamp_bench.data.samples import SampleTable
from ecamp_bench.specs import BackboneSpec, TaskSpec

if TYPE_CHECKING:
    import torch

    from ecamp_bench.distributed import DistInfo
    from ecamp_bench.evaluation.metrics import MetricValue
    from ecamp_bench.models.backbone import Backbone


@dataclass(frozen=True)
class Predictions:
    """Test-set outputs: ``ids`` ``[N]``, ``targets`` ``[N, C]`` and ``scores`` ``[N, C]`` (probabilities or logits).

    ``extras`` holds task-specific arrays (numeric or str, no objects) saved with the predictions, e.g.
    detection's variable-length box lists as flat arrays plus ``[N + 1]`` offsets.
    """

    ids: tuple[str, ...]
    targets: np.ndarray
    scores: np.ndarray
    label_names: tuple[str, ...] = ()
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))
        n = len(self.ids)
        if self.targets.shape[0] != n or self.scores.shape[0] != n:
            raise ValueError(f"predictions: {n} ids but targets {self.targets.shape} and scores {self.scores.shape}")


@dataclass(frozen=True)
class PreparedTask:
    """A task's view of a dataset: its samples, and (optionally) the ids that form the fixed test set."""

    table: SampleTable
    fixed_test_ids: tuple[str, ...] | None = None
    stratify: tuple[str, ...] = ()


class TaskImplementation(Protocol):
    """What ``TaskSpec.implementation`` must provide."""

    def prepare(self, spec: TaskSpec, table: SampleTable) -> PreparedTask:
        """Filter/relabel the layout's table for this task and say which ids are the fixed test set, if any."""

    def targets(self, spec: TaskSpec, table: SampleTable) -> np.ndarray:
        """The target matrix ``[N, C]`` of ``table`` (C = ``len(spec.labels)``)."""

    def score(self, spec: TaskSpec, predictions: Predictions, *, n_bootstrap: int, seed: int) -> list[MetricValue]:
        """The metrics of ``predictions`` (primary metric first), with bootstrap CIs."""


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

    ``pool`` is every sample of the prepared task (train ∪ val ∪ test at 100%); protocols that cache
    per-image work (the linear protocol's features) compute it over ``pool`` once, so every fraction and
    seed reuses it. ``weights_path`` is ``None`` for random initialisation (then seeded by ``seed``).
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
    device: torch.device
    work_dir: Path
    cache_dir: Path
    num_workers: int = 0
    progress: ProgressReporter = field(default_factory=NullProgress)
    dist: DistInfo | None = None

    def __post_init__(self) -> None:
        if self.dist is None:
            from ecamp_bench.distributed import DistInfo

            self.dist = DistInfo()

    def targets(self, table: SampleTable) -> np.ndarray:
        """The task's target matrix ``[N, C]`` for ``table``."""
        return np.asarray(self.task_impl.targets(self.task, table), dtype=np.float32)

    def build_backbone(self, *, strict: bool = True) -> Backbone:
        """The backbone with its weights (or a seeded random init), on ``self.device``."""
        import torch

        from ecamp_bench.models.backbone import build_backbone

        torch.manual_seed(self.seed)
        return build_backbone(self.backbone, self.weights_path, strict=strict).to(self.device)

