"""Is the best cell of a leaderboard column significantly better than the runner-up?

For every column the best and second-best backbones (by mean over seeds) are compared on each seed they
share, with a paired test on that seed's saved test predictions (the test set is the same for every seed
and backbone): DeLong's test for a single-label AUC, a paired bootstrap of the macro AUC difference for a
multi-label AUC, and a paired bootstrap of the task's own primary metric otherwise. The best cell is
marked significant when every shared seed gives p < alpha in its favour (a conservative rule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ecamp_bench.errors import DataError, EcampBenchError
from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.stats import PairedTest, align_predictions, compare_auc, paired_bootstrap
from ecamp_bench.leaderboard.aggregate import LeaderboardTable, Pivot
from ecamp_bench.plugins import Catalog

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
        f"{MARK} best in its column and significantly better than the runner-up (two-sided p < {alpha:g} on every "
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


def metric_function(catalog: Catalog, task_name: str, metric: str) -> Callable[[Predictions], float | None]:
    """``predictions → value of metric`` through the task implementation's own ``score`` (no bootstrap)."""
    from ecamp_bench.models.backbone import import_ref

    task = catalog.task(task_name)
    impl = import_ref(task.implementation)

    def compute(predictions: Predictions) -> float | None:
        for value in impl.score(task, predictions, n_bootstrap=0, seed=0):
            if value.name == metric:
                return value.value
        raise EcampBenchError(f"task '{task_name}' reports no metric '{metric}'")

    return compute


def paired_tests(
    catalog: Catalog, task_name: str, a: Predictions, b: Predictions, *, n_bootstrap: int = 1000, seed: int = 0,
    names: tuple[str, str] = ("A", "B"),
) -> list[PairedTest]:  # fmt: skip
    """Paired tests of A vs B on the task's primary metric first (plus per-label AUCs for AUC tasks)."""
    a, b = align_predictions(a, b, names)
    primary = catalog.task(task_name).primary_metric.name
    if primary == "auc":
        return compare_auc(a, b, n_bootstrap=n_bootstrap, seed=seed, metric=primary)
    fn = metric_function(catalog, task_name, primary)
    return [paired_bootstrap(fn, a, b, metric=primary, n_bootstrap=n_bootstrap, seed=seed)]


def _latest_files(rows: list[dict]) -> dict[tuple, dict]:
    """(protocol, version, preset, task, task version, fraction, metric, backbone, seed) → newest primary row."""
    latest: dict[tuple, dict] = {}
    for row in rows:
        if not row.get("primary"):
            continue
        key = (row["protocol"], row["protocol_version"], row.get("preset", "default"), row["task"], row["task_version"],
               row["fraction"], row["metric"], row["backbone"], row["seed"])  # fmt: skip
        if key not in latest or (row.get("finished_at") or "") >= (latest[key].get("finished_at") or ""):
            latest[key] = row
    return latest


def column_significance(
    table: LeaderboardTable, col: int, latest: dict[tuple, dict], catalog: Catalog, *, alpha: float = ALPHA,
    n_bootstrap: int = 1000,
) -> Significance | None:  # fmt: skip
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
    base = (table.protocol, table.protocol_version, table.preset, column.task, column.task_version, column.fraction, column.metric)
    seeds = sorted(set(table.cells[(best, col)].seeds) & set(table.cells[(runner_up, col)].seeds))
    if not seeds:
        result.reason = "no seed in common"
        return result
    sign = 1.0 if column.higher_is_better else -1.0
    try:
        for seed in seeds:
            a = load_run_predictions(Path(latest[(*base, best, seed)]["file"]))
            b = load_run_predictions(Path(latest[(*base, runner_up, seed)]["file"]))
            result.tests[seed] = paired_tests(catalog, column.task, a, b, n_bootstrap=n_bootstrap, seed=seed, names=(best, runner_up))[0]
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


def significance(pivot: Pivot, rows: list[dict], catalog: Catalog, *, alpha: float = ALPHA, n_bootstrap: int = 1000) -> dict[tuple[int, int], Significance]:
    """``(table index, column index) → Significance`` for every column with at least two backbones."""
    latest = _latest_files(rows)
    out = {}
    for t, table in enumerate(pivot.tables):
        for col in range(len(table.columns)):
            result = column_significance(table, col, latest, catalog, alpha=alpha, n_bootstrap=n_bootstrap)
            if result is not None:
                out[(t, col)] = result
    return out
