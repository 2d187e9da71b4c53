"""What a submitted sweep job runs: one or more cells, in order, each under a claim.

A :class:`CellJob` is pickled by submitit and called on the compute node. It restores the submitting session
(``ECAMP_BENCH_*`` folders as absolute paths, ``--plugin``/``--no-plugin`` options), then for each cell: skip it
when its ``ok`` record exists, claim it (skip it when another live worker holds it), run the evaluation, release.
It is :class:`submitit.helpers.Checkpointable`: on preemption or time-out submitit requeues the same job, which
skips the cells already recorded. The job fails (after running every cell) when a cell failed, so the scheduler
shows it; the cell's failed record carries the error.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import submitit

from ecamp_bench.sweep.grid import Cell


@dataclass(frozen=True)
class CellOutcome:
    """What the job did with one cell: ``ok``, ``done`` (recorded before), ``elsewhere`` (claimed) or ``failed``."""

    cell: Cell
    state: str
    value: float | None = None
    error: str | None = None


def session_env() -> dict[str, str]:
    """The ``ECAMP_BENCH_*`` variables of this process, with the four folders made absolute."""
    from ecamp_bench.paths import cache_dir, data_home, pretrained_dir, results_dir

    env = {k: v for k, v in os.environ.items() if k.startswith("ECAMP_BENCH_")}
    env.update({"ECAMP_BENCH_RESULTS": str(results_dir().resolve()), "ECAMP_BENCH_CACHE": str(cache_dir().resolve()),
                "ECAMP_BENCH_PRETRAINED": str(pretrained_dir().resolve()),
                "ECAMP_BENCH_DATA": str(data_home().resolve())})
    return env


class CellJob(submitit.helpers.Checkpointable):
    """Run ``cells`` (with their record paths) under ``settings`` inside a submitted job."""

    def __init__(self, cells: list[tuple[Cell, Path]], settings, env: dict[str, str],
                 plugins: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())):
        self.cells, self.settings, self.env, self.plugins = list(cells), settings, dict(env), plugins

    def __call__(self) -> list[CellOutcome]:
        from ecamp_bench.plugins import get_catalog, set_session_plugin_options

        os.environ.update(self.env)
        set_session_plugin_options(extra_plugins=self.plugins[0], blocked=self.plugins[1])
        catalog = get_catalog()
        outcomes = [self._run(cell, Path(path), catalog) for cell, path in self.cells]
        failed = [o for o in outcomes if o.state == "failed"]
        if failed:
            raise RuntimeError("; ".join(f"{o.cell.label}: {o.error}" for o in failed))
        return outcomes

    def _run(self, cell: Cell, path: Path, catalog) -> CellOutcome:
        from ecamp_bench.evaluation.runner import run_evaluation
        from ecamp_bench.results.store import is_finished
        from ecamp_bench.sweep.claims import claim_path_for_record, try_claim

        if is_finished(path):
            print(f"= {cell.label}: already done", flush=True)
            return CellOutcome(cell, "done")
        claim = try_claim(claim_path_for_record(path))
        if claim is None:
            print(f"~ {cell.label}: another worker holds it", flush=True)
            return CellOutcome(cell, "elsewhere")
        with claim:
            t0 = time.perf_counter()
            try:
                outcome = run_evaluation(self.settings.request(cell), catalog)
            except Exception as exc:  # noqa: BLE001 (recorded as failed by the runner; the next cell still runs)
                print(f"✗ {cell.label}: {type(exc).__name__}: {exc}", flush=True)
                return CellOutcome(cell, "failed", error=f"{type(exc).__name__}: {exc}")
        value = outcome.record.primary_value
        shown = f"{value:.3f}" if isinstance(value, float) else "—"
        print(f"✓ {cell.label}: {shown} in {time.perf_counter() - t0:.1f} s → {outcome.path}", flush=True)
        return CellOutcome(cell, "done" if outcome.skipped else "ok", value)
