"""Is the best cell of a leaderboard column significantly better than the runner-up?

For every column the best and second-best rows (by mean over seeds) are compared on each seed they
share, with a paired test on that seed's saved test predictions (the test set is the same for every seed
and backbone). The test is the one the record stores for the metric (from ``MetricSpec.paired_test``):
``auc`` = DeLong's test for a single-label AUC and a paired bootstrap of the macro AUC difference for a
multi-label AUC; ``bootstrap`` = a paired bootstrap of the record's ``value_fn`` (a core function, never
a task plugin). The best cell is marked significant when every shared seed gives p < alpha in its favour
(a conservative rule). Nothing here imports a plugin or opens a dataset: a results folder suffices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.errors import DataError, EcampBenchError
from ecamp_bench.evaluation.predictions import UnreadablePredictions
from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.stats import PairedTest, align_predictions, compare_auc, paired_bootstrap
from ecamp_bench.leaderboard.aggregate import LeaderboardTable, Pivot, assign_rows, latest_per_seed
from ecamp_bench.leaderboard.keys import CellKey, SeedKey, TableKey
from ecamp_bench.leaderboard.training_noise import MIN_TRAINING_RUNS, few_runs_note

if TYPE_CHECKING:
    from ecamp_bench.progress import Progress

ALPHA = 0.05
MARK = "†"


@dataclass
class Significance:
    """The outcome for one column: best vs runner-up, per-seed tests, and the verdict (``None`` = untested)."""

    best: str
    runner_up: str
    tests: dict[int, PairedTest] = field(default_factory=dict)
    significant: bool | None = None
    reason: str = ""

    @property
    def max_p(self) -> float | None:
        """The largest p-value over the shared seeds."""
        values = [t.p_value for t in self.tests.values() if t.p_value is not None]
        return max(values) if values else None


def legend(alpha: float = ALPHA) -> str:
    """The sentence every report prints next to the mark."""
    return (
        f"{MARK} best in its column and significantly better than the runner-up (at least {MIN_TRAINING_RUNS} "
        f"training runs, two-sided p < {alpha:g} on every "
        "seed both share, paired on the same test images: DeLong's test for single-label AUC, paired bootstrap "
        "(1000 resamples) of the macro-AUC difference for multi-label AUC, paired bootstrap of the metric otherwise)."
    )


def load_run_predictions(record_file: Path) -> Predictions:
    """The predictions saved next to a record; a DataError naming the file when there are none."""
    from ecamp_bench.evaluation.predictions import load_predictions
    from ecamp_bench.results.record import predictions_path

    path = predictions_path(Path(record_file))
    if not path.is_file():
        raise DataError("no saved test predictions for this run (needed for paired tests)", path=path)
    return load_predictions(path)


def metric_function(value_fn: str, metric: str) -> Callable[[Predictions], float | None]:
    """``predictions → value of metric`` through the record's ``value_fn`` (``"module:function"`` →
    ``{name: value}``)."""
    from ecamp_bench.models.backbone import import_ref

    fn = import_ref(value_fn)

    def compute(predictions: Predictions) -> float | None:
        values = fn(predictions)
        if metric not in values:
            raise EcampBenchError(f"{value_fn} reports no metric '{metric}' (it gives {sorted(values)})")
        return values[metric]

    return compute


def paired_tests(
    a: Predictions, b: Predictions, *, metric: str, paired_test: str | None, value_fn: str | None = None,
    n_bootstrap: int = 1000, seed: int = 0, names: tuple[str, str] = ("A", "B"),
) -> list[PairedTest]:
    """Paired tests of A vs B on ``metric`` first (plus per-label AUCs for ``paired_test="auc"``).

    ``paired_test``/``value_fn`` come from the record's metric entry (``MetricSpec``); ``None`` raises an
    :class:`EcampBenchError` saying that the metric defines no paired test.
    """
    a, b = align_predictions(a, b, names)
    if paired_test == "auc":
        return compare_auc(a, b, n_bootstrap=n_bootstrap, seed=seed, metric=metric)
    if paired_test == "bootstrap" and value_fn:
        return [paired_bootstrap(metric_function(value_fn, metric), a, b, metric=metric, n_bootstrap=n_bootstrap,
                                 seed=seed)]
    raise EcampBenchError(f"metric '{metric}' defines no paired test (paired_test={paired_test!r}, "
                          f"value_fn={value_fn!r})")


def column_significance(
    table: LeaderboardTable, col: int, latest: dict[SeedKey, dict], *, alpha: float = ALPHA, n_bootstrap: int = 1000,
) -> Significance | None:
    """Best vs runner-up in column ``col`` of ``table`` (``None`` when the column has fewer than two backbones)."""
    column = table.columns[col]
    scored = [(cell.mean, b) for (b, i), cell in table.cells.items() if i == col and cell.mean is not None]
    if len(scored) < 2:
        return None
    scored.sort(key=lambda mb: mb[0], reverse=column.higher_is_better)
    (best_mean, best), (second_mean, runner_up) = scored[0], scored[1]
    result = Significance(best, runner_up)
    if best_mean == second_mean:
        result.significant, result.reason = False, "tied means"
        return result
    cell = CellKey(TableKey(table.protocol, table.protocol_version, table.preset), column.task, column.task_version,
                   column.fraction, column.metric, column.split)
    seeds = sorted(set(table.cells[(best, col)].seeds) & set(table.cells[(runner_up, col)].seeds))
    if not seeds:
        result.reason = "no seed in common"
        return result
    few = few_runs_note(len(seeds))
    if few is not None:  # training noise is in no paired test: no mark, whatever one training run's p-value is
        result.significant, result.reason = False, few
        return result
    sign = 1.0 if column.higher_is_better else -1.0
    try:
        for seed in seeds:
            row_a, row_b = latest[SeedKey(cell, best, seed)], latest[SeedKey(cell, runner_up, seed)]
            a, b = load_run_predictions(Path(row_a["file"])), load_run_predictions(Path(row_b["file"]))
            result.tests[seed] = paired_tests(
                a, b, metric=column.metric, paired_test=row_a.get("paired_test"), value_fn=row_a.get("value_fn"),
                n_bootstrap=n_bootstrap, seed=seed, names=(best, runner_up),
            )[0]
    except UnreadablePredictions:
        raise  # a damaged file is an error, not a missing test: the report stops and names it
    except (EcampBenchError, KeyError) as exc:
        result.reason = f"not tested: {exc}"
        return result
    result.significant = all(
        t.significant(alpha) and t.difference is not None and sign * t.difference > 0 for t in result.tests.values()
    )
    return result


def apply_marks(pivot: Pivot, marks: dict[tuple[int, int], Significance]) -> bool:
    """Set :data:`MARK` on each best cell that is significantly better than its runner-up; whether any was set."""
    marked = False
    for (t, col), result in marks.items():
        if result.significant:
            pivot.tables[t].cells[(result.best, col)].mark = MARK
            marked = True
    return marked


def significance(pivot: Pivot, rows: list[dict], *, alpha: float = ALPHA, n_bootstrap: int = 1000,
                 progress: Progress | None = None) -> dict[tuple[int, int], Significance]:
    """``(table index, column index) → Significance`` for every column with at least two rows (tidy ``rows``).

    ``progress`` (optional) shows one phase, a step per column (the paired tests of a large results folder take
    minutes; a plain log gets a line at least every 30 s).
    """
    from ecamp_bench.progress import phase_progress

    latest, _ = latest_per_seed(assign_rows(rows))
    out = {}
    total = sum(len(table.columns) for table in pivot.tables)
    with phase_progress("leaderboard: paired tests (columns)", total, progress, enabled=progress is not None) as step:
        for t, table in enumerate(pivot.tables):
            for col in range(len(table.columns)):
                result = column_significance(table, col, latest, alpha=alpha, n_bootstrap=n_bootstrap)
                if result is not None:
                    out[(t, col)] = result
                step()
    return out
