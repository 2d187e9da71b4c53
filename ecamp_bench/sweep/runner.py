"""Run a sweep: plan every cell (skip those with an ``ok`` record), run the rest one by one, never stop early.

Each cell is prepared once (:func:`~ecamp_bench.evaluation.runner.prepare_run` → a typed ``RunPlan``, all
cells sharing one :class:`~ecamp_bench.evaluation.runner.TableCache`, so each dataset is read once) and
that same plan is run (:func:`~ecamp_bench.evaluation.runner.run_plan`).

Workers that share a results folder (two ``sweep`` processes, SLURM array tasks, submitit jobs) split the
grid: each cell is claimed before it runs (:mod:`ecamp_bench.sweep.claims`), and a cell that another live worker
holds is left to it and shown as done once its record appears.

Resuming is free: every record is written atomically by the evaluation runner, so after Ctrl-C, a kill or a
node failure, running the same sweep again skips the finished cells (a record that parses with
``status == "ok"``) and re-runs the failed and missing ones. A failing cell is recorded as failed (by the
evaluation runner, with its error) and the sweep goes on; :class:`SweepSummary` lists the failures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

from ecamp_bench.evaluation.context import NullProgress, ProgressReporter
from ecamp_bench.evaluation.runner import RunPlan, RunRequest, TableCache, device_reuse_note, prepare_run, run_plan
from ecamp_bench.plugins import Catalog
from ecamp_bench.sweep.grid import Cell
from ecamp_bench.sweep.turns import claimed_turns


class CellState(str, Enum):
    """Where a cell stands: ``done`` = finished before this sweep started, ``ok`` = finished by it."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    OK = "ok"
    FAILED = "failed"


@dataclass
class CellResult:
    """The state of one cell, its plan and record path (once prepared), its error, and how long it took here."""

    cell: Cell
    state: CellState = CellState.PENDING
    path: Path | None = None
    error: str | None = None
    wall_s: float | None = None
    value: float | None = None
    plan: RunPlan | None = None
    note: str | None = None  # a reused record made on another device (printed by the sweep)


@dataclass(frozen=True)
class SweepSettings:
    """What every run of a sweep shares (everything of :class:`RunRequest` except the cell's own axes)."""

    data_root: Path | None = None
    preset: str = "default"
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    num_workers: int = 0
    split: str | None = None
    splits_root: Path | None = None
    allow_split_overlap: bool = False
    weights: Path | None = None  # sweep --weights: the weights of every timm:ARCH backbone of the grid
    recipe: str | None = None

    def request(self, cell: Cell) -> RunRequest:
        """The evaluation request of ``cell`` (``device="auto"`` resolved here, on the machine that runs it)."""
        from ecamp_bench.distributed import device_name

        return RunRequest(
            task=cell.task, fraction=cell.fraction, seed=cell.seed, protocol=cell.protocol, backbone=cell.backbone,
            weights=sweep_weights(cell.backbone, self.weights), data_root=self.data_root, preset=self.preset,
            overrides=list(self.overrides), device=device_name(self.device),
            num_workers=self.num_workers, split=self.split, splits_root=self.splits_root,
            allow_split_overlap=self.allow_split_overlap, recipe=self.recipe,
        )


def sweep_weights(backbone: str, weights: Path | None) -> Path | None:
    """The ``--weights`` a sweep hands to ``backbone``: a sweep's ``--weights`` fills its ``timm:ARCH`` backbones
    (the ones that need a file); every other backbone keeps its own weights (see :func:`check_backbones`)."""
    from ecamp_bench.models.backbone_refs import TIMM_PREFIX

    return weights if weights is not None and backbone.startswith(TIMM_PREFIX) else None


class SweepObserver(Protocol):
    """Callbacks for a display; ``progress`` receives the phases (bars) of the running cell."""

    progress: ProgressReporter

    def planned(self, results: Sequence[CellResult]) -> None:
        """Every cell has been planned (``done``, ``pending`` or ``failed`` when it cannot even be prepared)."""

    def started(self, result: CellResult) -> None:
        """``result.cell`` starts running."""

    def finished(self, result: CellResult) -> None:
        """``result.cell`` finished (``ok``, ``done`` when another worker finished it first, or ``failed``)."""


class NullObserver:
    """An observer that ignores everything (library use and tests)."""

    progress: ProgressReporter = NullProgress()

    def planned(self, results: Sequence[CellResult]) -> None:
        """Ignore."""

    def started(self, result: CellResult) -> None:
        """Ignore."""

    def finished(self, result: CellResult) -> None:
        """Ignore."""


@dataclass
class SweepSummary:
    """The cells and their final states; ``interrupted`` when Ctrl-C stopped the sweep."""

    results: list[CellResult] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0

    def count(self, state: CellState) -> int:
        """How many cells are in ``state``."""
        return sum(r.state == state for r in self.results)

    @property
    def failures(self) -> list[CellResult]:
        """The failed cells."""
        return [r for r in self.results if r.state == CellState.FAILED]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def plan_cells(
    cells: Sequence[Cell], settings: SweepSettings, catalog: Catalog, tables: TableCache | None = None
) -> list[CellResult]:
    """A :class:`CellResult` per cell with its plan: ``done`` when its ``ok`` record exists, ``failed`` when it
    cannot be prepared. ``tables`` (default: a new cache) shares layout reads between the cells."""
    from ecamp_bench.results.record import try_read_record

    tables = tables if tables is not None else TableCache()
    results = []
    for cell in cells:
        result = CellResult(cell)
        try:
            result.plan = prepare_run(settings.request(cell), catalog, tables)
        except Exception as exc:  # a bad cell must not stop the sweep; it is reported at the end
            result.state, result.error = CellState.FAILED, _error_text(exc)
        else:
            result.path = result.plan.path
            record = try_read_record(result.path)
            if record is not None and record.ok:
                result.note = device_reuse_note(record, result.plan.request.device)
                result.state, result.value, result.plan = CellState.DONE, record.primary_value, None
        results.append(result)
    return results


def run_cell(result: CellResult, settings: SweepSettings, catalog: Catalog, progress: ProgressReporter) -> None:
    """Run one planned cell in place (``ok``, ``done`` if finished meanwhile by another worker, or ``failed``).

    The cell's plan from :func:`plan_cells` is run as it is (prepared once); a cell without a plan is prepared here.
    """
    t0 = time.perf_counter()
    try:
        plan = result.plan if result.plan is not None else prepare_run(settings.request(result.cell), catalog)
        outcome = run_plan(plan, catalog, progress)
    except Exception as exc:  # recorded as failed by the evaluation runner; the sweep goes on
        result.state, result.error = CellState.FAILED, _error_text(exc)
    else:
        result.path = outcome.path
        result.note = outcome.note
        result.state = CellState.DONE if outcome.skipped else CellState.OK
        result.value = outcome.record.primary_value
    result.plan = None  # release the split tables
    result.wall_s = time.perf_counter() - t0


def run_sweep(
    cells: Sequence[Cell], settings: SweepSettings, catalog: Catalog, observer: SweepObserver | None = None
) -> SweepSummary:
    """Plan and run ``cells`` in order; Ctrl-C stops after marking the summary ``interrupted`` (nothing is lost)."""
    observer = observer or NullObserver()
    t0 = time.perf_counter()
    summary = SweepSummary(plan_cells(cells, settings, catalog))
    observer.planned(summary.results)
    for result in summary.results:
        if result.note:
            observer.progress.log(f"{result.cell.label}: {result.note}")
    try:
        for result, claim in claimed_turns(summary.results, observer):
            if claim is None:  # another worker sharing the results folder finished it
                observer.finished(result)
                continue
            with claim:
                result.state = CellState.RUNNING
                observer.started(result)
                run_cell(result, settings, catalog, observer.progress)
            observer.finished(result)
    except KeyboardInterrupt:
        summary.interrupted = True
        for result in summary.results:
            if result.state == CellState.RUNNING:
                result.state = CellState.PENDING
    summary.wall_s = time.perf_counter() - t0
    return summary


def eta_seconds(results: Sequence[CellResult]) -> float | None:
    """Seconds left: each pending/running cell costs the mean time of finished cells of the same task and
    protocol (else of all finished cells); ``None`` before any cell has run in this sweep."""
    timed = [r for r in results if r.state == CellState.OK and r.wall_s is not None]
    if not timed:
        return None
    overall = sum(r.wall_s for r in timed) / len(timed)
    by_kind: dict[tuple[str, str], list[float]] = {}
    for r in timed:
        by_kind.setdefault((r.cell.task, r.cell.protocol), []).append(r.wall_s)
    left = 0.0
    for r in results:
        if r.state in (CellState.PENDING, CellState.RUNNING):
            same = by_kind.get((r.cell.task, r.cell.protocol))
            left += sum(same) / len(same) if same else overall
    return left
