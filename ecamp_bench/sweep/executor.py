"""``sweep --executor local|slurm``: each pending cell becomes a submitit job; the driver watches and resubmits.

Order: cells are grouped by what they share on disk, ``(task, backbone)`` (the linear protocol's feature cache and
the detection image cache are per backbone and image set). With ``jobs="cell"`` (default) the first cell of a group
runs alone; once it has filled the caches the group's other cells are submitted together, one job each. With
``jobs="group"`` one job runs the whole group in order (fewer, longer jobs for clusters with slow queues).

Every submission is written to the job ledger (:mod:`ecamp_bench.sweep.ledger`). A job that ends without an
``ok`` record for its cell (killed, node failure, out of memory, an exception) is resubmitted up to
``ClusterOptions.retries`` times; then the cell is ``failed``. A driver started again after its predecessor was
killed adopts the jobs still queued or running instead of submitting them twice, and cells that another worker
holds a live claim on are left to it. Stopping the driver (Ctrl-C) leaves submitted jobs running.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ecamp_bench.cluster import ClusterOptions, is_active, make_executor
from ecamp_bench.plugins import Catalog
from ecamp_bench.sweep.grid import Cell, short_backbone
from ecamp_bench.sweep.runner import (
    CellResult, CellState, NullObserver, SweepSettings, SweepSummary, plan_cells,
)

JOB_MODES = ("cell", "group")


@dataclass
class Flight:
    """A job in flight and the cells it runs (``job`` is None for a job adopted from the ledger)."""

    job_id: str
    results: list[CellResult]
    job: object | None = None
    entry: object | None = None
    submitted: float = field(default_factory=time.time)

    def active(self) -> bool:
        """Whether the job may still run."""
        if self.job is not None:
            return not self.job.done()
        return is_active(self.entry.state())

    def error(self) -> str:
        """Why the job ended without an ``ok`` record, in one line."""
        if self.job is not None:
            try:
                exc = self.job.exception()
            except Exception as read_error:  # noqa: BLE001 (no result file: the job was killed)
                exc = read_error
            if exc is not None:
                return f"job {self.job_id}: " + str(exc).strip().splitlines()[-1][:300]
        return f"job {self.job_id} ended without a record (killed?)"


def group_key(cell: Cell) -> tuple[str, str]:
    """The cells that share caches: same task, same backbone."""
    return cell.task, cell.backbone


class ExecutorSweep:
    """The driver state: planned cells, jobs in flight, attempts per cell."""

    def __init__(self, cells: Sequence[Cell], settings: SweepSettings, catalog: Catalog, options: ClusterOptions,
                 observer=None, jobs: str = "cell", plugins: tuple = ((), ())):
        from ecamp_bench.paths import results_dir

        if jobs not in JOB_MODES:
            from ecamp_bench.errors import ConfigError

            raise ConfigError(f"--jobs {jobs!r}: expected one of {', '.join(JOB_MODES)}")
        self.settings, self.options, self.jobs, self.plugins = settings, options, jobs, plugins
        self.observer = observer or NullObserver()
        self.summary = SweepSummary(plan_cells(cells, settings, catalog))
        for result in self.summary.results:
            result.plan = None  # the jobs prepare their own cells; the driver keeps only the record paths
        self.folder = results_dir().resolve() / "jobs" / "submitit"
        self.executor = make_executor(options, self.folder, name="ecamp-sweep")
        self.flights: list[Flight] = []
        self.attempts: dict[Cell, int] = {}
        self.groups: dict[tuple[str, str], list[CellResult]] = {}
        for result in self.summary.results:
            if result.state == CellState.PENDING:
                self.groups.setdefault(group_key(result.cell), []).append(result)

    # ------------------------------------------------------------------------------
    def run(self) -> SweepSummary:
        """Submit, watch and resubmit until every cell is done or failed (Ctrl-C: stop watching)."""
        from ecamp_bench.sweep.cell_job import session_env

        t0 = time.perf_counter()
        self.env = session_env()
        self.observer.planned(self.summary.results)
        self._adopt()
        try:
            while True:
                self._collect()
                self._submit()
                if not self.flights and not any(r.state in (CellState.PENDING, CellState.RUNNING)
                                                for r in self.summary.results):
                    break
                time.sleep(self.options.poll_s)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            for result in self.summary.results:
                if result.state == CellState.RUNNING:
                    result.state = CellState.PENDING
        self.summary.wall_s = time.perf_counter() - t0
        return self.summary

    # ------------------------------------------------------------------------------
    def _adopt(self) -> None:
        """Jobs that an earlier driver submitted for pending cells and that still run are watched, not resubmitted."""
        from ecamp_bench.sweep.ledger import read_entries

        by_job: dict[str, Flight] = {}
        for result in self.summary.results:
            if result.state != CellState.PENDING:
                continue
            entries = read_entries(result.path)
            if not entries:
                continue
            self.attempts[result.cell] = entries[-1].attempt
            if is_active(entries[-1].state()):
                flight = by_job.setdefault(entries[-1].job_id, Flight(entries[-1].job_id, [], entry=entries[-1]))
                flight.results.append(result)
                result.state = CellState.RUNNING
                self.observer.started(result)
        self.flights.extend(by_job.values())

    def _finished(self, result: CellResult) -> bool:
        from ecamp_bench.results.record import try_read_record

        record = try_read_record(result.path)
        if record is None or not record.ok:
            return False
        result.value, result.wall_s = record.primary_value, record.timing.wall_time_s or 0.0
        return True

    def _collect(self) -> None:
        """Look at every job in flight; settle the cells of jobs that ended."""
        from ecamp_bench.sweep.claims import break_claim, claim_path_for_record, read_holder

        still = []
        for flight in self.flights:
            if flight.active():
                still.append(flight)
                continue
            for result in flight.results:
                holder = read_holder(claim_path_for_record(result.path))
                if holder is not None and holder.job_id == flight.job_id:
                    break_claim(claim_path_for_record(result.path), only_token=holder.token)  # its job has ended
                if self._finished(result):
                    result.state = CellState.OK
                elif self.attempts.get(result.cell, 0) > self.options.retries:
                    result.state = CellState.FAILED
                    result.error = self._record_error(result) or flight.error()
                else:
                    result.state = CellState.PENDING  # resubmitted by _submit (or left to a live claim holder)
                    continue
                self.observer.finished(result)
        self.flights = still

    @staticmethod
    def _record_error(result: CellResult) -> str | None:
        from ecamp_bench.results.record import try_read_record

        record = try_read_record(result.path)
        error = record.error if record is not None and not record.ok else None
        return error.splitlines()[0] if error else None

    def _ready(self, results: list[CellResult]) -> list[CellResult]:
        """The group's cells to submit now (see the module docstring for the order)."""
        pending = [r for r in results if r.state == CellState.PENDING]
        if self.jobs == "group":
            return [] if any(r.state == CellState.RUNNING for r in results) else pending
        leader = results[0]
        if leader.state in (CellState.PENDING, CellState.RUNNING):
            return [leader] if leader.state == CellState.PENDING else []  # it fills the caches first
        return pending

    def _submit(self) -> None:
        from ecamp_bench.sweep.claims import claim_path_for_record, live_holder

        limit = self.options.in_flight_limit
        for results in self.groups.values():
            batch = []
            for result in self._ready(results):
                if self._finished(result):
                    result.state = CellState.DONE
                    self.observer.finished(result)
                elif live_holder(claim_path_for_record(result.path)) is None:
                    batch.append(result)
            units = [batch] if self.jobs == "group" and batch else [[r] for r in batch]
            for unit in units:
                if limit is not None and len(self.flights) >= limit:
                    return
                self._submit_unit(unit)

    def _submit_unit(self, unit: list[CellResult]) -> None:
        from ecamp_bench.sweep.cell_job import CellJob
        from ecamp_bench.sweep.ledger import add_entry

        first = unit[0].cell
        name = f"ecamp-{first.task}-{short_backbone(first.backbone)}"[:60]
        self.executor.update_parameters(name=name)
        job = self.executor.submit(CellJob([(r.cell, r.path) for r in unit], self.settings, self.env, self.plugins))
        flight = Flight(str(job.job_id), unit, job=job)
        for result in unit:
            attempt = self.attempts.get(result.cell, 0) + 1
            self.attempts[result.cell] = attempt
            flight.entry = add_entry(result.path, result.cell.label, job_id=flight.job_id,
                                     executor=self.options.executor, folder=self.folder / "%j", attempt=attempt)
            result.state = CellState.RUNNING
            self.observer.started(result)
        self.flights.append(flight)


def run_on_executor(cells: Sequence[Cell], settings: SweepSettings, catalog: Catalog, options: ClusterOptions,
                    observer=None, *, jobs: str = "cell", plugins: tuple = ((), ())) -> SweepSummary:
    """Run ``cells`` as submitit jobs (see the module docstring) and return the summary once all have settled."""
    return ExecutorSweep(cells, settings, catalog, options, observer, jobs, plugins).run()


@dataclass(frozen=True)
class CellStatus:
    """One line of ``sweep --status``."""

    cell: Cell
    state: str  # done | failed | running | queued | pending
    job: str | None
    detail: str


def sweep_status(cells: Sequence[Cell], settings: SweepSettings, catalog: Catalog) -> list[CellStatus]:
    """Where each cell stands, from its record, its claim and the scheduler's state of its latest job."""
    from ecamp_bench.results.record import try_read_record
    from ecamp_bench.sweep.claims import claim_path_for_record, live_holder
    from ecamp_bench.sweep.ledger import read_entries

    rows = []
    for planned in plan_cells(cells, settings, catalog):
        if planned.path is None:
            rows.append(CellStatus(planned.cell, "failed", None, planned.error or "cannot be prepared"))
            continue
        entries = read_entries(planned.path)
        latest = entries[-1] if entries else None
        job = f"{latest.job_id} {latest.executor} #{latest.attempt}" if latest else None
        job_state = latest.state() if latest else None
        planned.plan = None
        record = try_read_record(planned.path)
        holder = live_holder(claim_path_for_record(planned.path))
        if record is not None and record.ok:
            value = record.primary_value
            state, detail = "done", f"{record.primary_metric} {value:.3f}" if isinstance(value, float) else "ok"
        elif holder is not None or job_state == "RUNNING":
            state, detail = "running", holder.describe() if holder else f"job state {job_state}"
        elif job_state is not None and is_active(job_state):
            state, detail = "queued", f"job state {job_state}"
        elif record is not None:
            state, detail = "failed", record.error.splitlines()[0] if record.error else "failed"
        elif latest is not None:
            state, detail = "failed", f"job state {job_state}; log {latest.log}"
        else:
            state, detail = "pending", "not submitted"
        rows.append(CellStatus(planned.cell, state, job, detail))
    return rows


def status_counts(rows: Sequence[CellStatus]) -> dict[str, int]:
    """``{"done": n, "running": n, "queued": n, "failed": n, "pending": n}``."""
    return {s: sum(r.state == s for r in rows) for s in ("done", "running", "queued", "failed", "pending")}


__all__ = ["CellStatus", "ExecutorSweep", "run_on_executor", "status_counts", "sweep_status"]

