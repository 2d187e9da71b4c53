"""Paired comparison of two backbones' runs, read from tidy result rows (the analysis behind ``ecamp-bench compare``).

The runs' saved test predictions are matched by image id (an error names the counts when the test sets
differ). AUC: DeLong's test per label; the macro AUC of a multi-label task by a paired bootstrap of the
macro-AUC difference. Other metrics: the test the records store for them (``MetricSpec.paired_test``).

:func:`find_pairs` picks two backbones' runs of one cell (one pair per seed, on the same split, one run identity
each);
:func:`summarise` compares two backbones in every :class:`~ecamp_bench.leaderboard.keys.CellKey` both have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ecamp_bench.errors import EcampBenchError
from ecamp_bench.leaderboard.training_noise import few_runs_note
from ecamp_bench.leaderboard.keys import CellKey, RunIdentity


def _is_metric(row: dict, metric: str | None) -> bool:
    """Whether ``row`` is the compared metric: ``metric`` when named, else the record's primary metric."""
    return row["metric"] == metric if metric else bool(row["primary"])


def _newest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r.get("finished_at") or "", reverse=True)


def runs_by_seed(rows: list[dict], backbone: str, task: str, fraction: float, protocol: str | None,
                 preset: str | None = None, metric: str | None = None) -> dict[int, list[dict]]:
    """``seed → every primary-metric row`` (or ``metric``'s row) of ``backbone`` on ``task`` at ``fraction``, newest
    first (one protocol, one preset).

    Raises :class:`EcampBenchError` when the runs span several protocols or presets and none was named (runs of
    different presets, e.g. ``finetune`` under ``tiny`` and ``cpu-demo``, are different experiments), or when there
    is no run.
    """
    from ecamp_bench.sweep.grid import short_backbone

    name = short_backbone(backbone)
    mine = [r for r in rows if _is_metric(r, metric) and r["backbone"] == name and CellKey.from_row(r).task == task
            and CellKey.from_row(r).same_fraction(fraction)]
    protocols = sorted({r["protocol"] for r in mine})
    if protocol is None and len(protocols) > 1:
        raise EcampBenchError(f"backbone '{name}' has {task} runs under protocols {protocols}; pass --protocol")
    mine = [r for r in mine if protocol is None or r["protocol"] == protocol]
    presets = sorted({r["preset"] for r in mine})
    if preset is None and len(presets) > 1:
        raise EcampBenchError(f"backbone '{name}' has {task} runs under presets {presets}; pass --preset")
    runs: dict[int, list[dict]] = {}
    for row in _newest_first(mine):
        if preset is None or row["preset"] == preset:
            runs.setdefault(row["seed"], []).append(row)
    if not runs:
        raise EcampBenchError(
            f"no ok run of backbone '{name}' on {task} at fraction {fraction:g}"
            + (f" with protocol '{protocol}'" if protocol else "")
            + (f" and preset '{preset}'" if preset else "")
            + " in the results folder"
            + did_you_mean(name, rows)
        )
    return runs


def _one_identity(name: str, task: str, runs: list[dict]) -> None:
    identities = {RunIdentity.from_row(r) for r in runs}  # one preset by now
    if len(identities) > 1:
        shown = "; ".join(
            f"weights {str(i.weights_sha256)[:8]}, config {str(i.setup_sha256)[:8]}"
            for i in sorted(identities, key=str)
        )
        raise EcampBenchError(
            f"backbone '{name}' names {len(identities)} different runs on {task} ({shown}): "
            "they are not the same run, so they cannot be paired; keep one set in the results folder"
        )


def find_pairs(rows: list[dict], a: str, b: str, task: str, fraction: float, protocol: str | None,
               preset: str | None = None, metric: str | None = None) -> dict[int, tuple[dict, dict]]:
    """``seed → (run of a, run of b)`` for every seed both have, the two runs on the same split.

    Per seed the newest pair whose split manifests are equal (``split_sha256``: same data set, fraction and seed)
    is taken, so a later run of one backbone on other data (another data root, another synthetic size) does not
    hide the pair that can be compared. A seed with no such pair pairs the newest runs, and the paired test then
    names the test sets that differ. Raises :class:`EcampBenchError` as :func:`runs_by_seed` does, or when one
    backbone's chosen runs are not one run identity.
    """
    all_a, all_b = (runs_by_seed(rows, x, task, fraction, protocol, preset, metric) for x in (a, b))
    pairs: dict[int, tuple[dict, dict]] = {}
    for seed in sorted(set(all_a) & set(all_b)):
        same_split = [(ra, rb) for ra in all_a[seed] for rb in all_b[seed]
                      if ra.get("split_sha256") and ra.get("split_sha256") == rb.get("split_sha256")]
        pairs[seed] = max(same_split, key=lambda p: max(r.get("finished_at") or "" for r in p),
                          default=(all_a[seed][0], all_b[seed][0]))
    from ecamp_bench.sweep.grid import short_backbone

    _one_identity(short_backbone(a), task, [ra for ra, _ in pairs.values()])
    _one_identity(short_backbone(b), task, [rb for _, rb in pairs.values()])
    return pairs


def did_you_mean(name: str, rows: list[dict]) -> str:
    """`` (no run of 'x'; did you mean 'y'? backbones with runs: ...)`` when ``name`` has no run at all, else ``""``."""
    import difflib

    known = sorted({r["backbone"] for r in rows})
    if name in known:
        return ""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f" (no run of '{name}' at all{hint} backbones with runs: {', '.join(known) or 'none'})"


def paired_runs(row_a: dict, row_b: dict, names: tuple[str, str], *, n_bootstrap: int, seed: int) -> list:
    """The paired tests (primary metric first) of two runs' saved test predictions, by the test A's record names."""
    from ecamp_bench.leaderboard.significance import load_run_predictions, paired_tests

    return paired_tests(
        load_run_predictions(Path(row_a["file"])),
        load_run_predictions(Path(row_b["file"])),
        metric=row_a["metric"],
        paired_test=row_a.get("paired_test"),
        value_fn=row_a.get("value_fn"),
        n_bootstrap=n_bootstrap,
        seed=seed,
        names=names,
    )


@dataclass(frozen=True)
class CellComparison:
    """A vs B in one (task, protocol, preset, fraction) cell: primary-metric means over the shared seeds, and per
    seed the difference A − B and the two-sided p-value of its paired test on the same ``n`` test images."""

    task: str
    protocol: str
    preset: str
    fraction: float
    metric: str
    seeds: tuple[int, ...]
    mean_a: float
    mean_b: float
    differences: tuple[float | None, ...]
    p_values: tuple[float | None, ...]
    test: str
    n: int
    higher_is_better: bool = True

    def verdict(self, alpha: float) -> str:
        """``A``/``B`` when every seed's test has p < ``alpha`` with the same sign of the difference, else ``-``;
        with fewer than 3 shared seeds (training runs) ``"one training run, not significant by design"`` (or the
        count): the paired tests resample test images only, not training. For a lower-is-better metric such as
        ``ece``, a negative A − B favours A."""
        few = few_runs_note(len(self.seeds))
        if few is not None:
            return few
        if not self.p_values or any(p is None or p >= alpha for p in self.p_values):
            return "-"
        signs = {(d > 0) == self.higher_is_better for d in self.differences if d is not None}
        return ("A" if signs == {True} else "B") if len(signs) == 1 else "-"


def _compare_cell(rows: list[dict], a: str, b: str, task: str, protocol: str, preset: str, fraction: float, *,
                  n_bootstrap: int, metric: str | None) -> CellComparison | None:
    """The comparison of one cell (``None`` when one of the two has no run or no scored seed there)."""
    try:
        pairs = find_pairs(rows, a, b, task, fraction, protocol, preset, metric)
    except EcampBenchError:
        return None  # one of the two has no run here
    runs_a, runs_b = ({s: pair[i] for s, pair in pairs.items()} for i in (0, 1))
    seeds = tuple(s for s in sorted(pairs)
                  if runs_a[s]["value"] is not None and runs_b[s]["value"] is not None)  # e.g. a subgroup too small
    if not seeds:
        return None
    tests = [paired_runs(runs_a[s], runs_b[s], (a, b), n_bootstrap=n_bootstrap, seed=s)[0] for s in seeds]
    return CellComparison(
        task=task, protocol=protocol, preset=preset, fraction=fraction, metric=tests[0].metric, seeds=seeds,
        mean_a=sum(runs_a[s]["value"] for s in seeds) / len(seeds),
        mean_b=sum(runs_b[s]["value"] for s in seeds) / len(seeds),
        differences=tuple(t.difference for t in tests), p_values=tuple(t.p_value for t in tests),
        test=tests[0].test, n=tests[0].n, higher_is_better=bool(runs_a[seeds[0]]["higher_is_better"]),
    )


def summarise(
    rows: list[dict], a: str, b: str, *, task: str | None, fraction: float | None, protocol: str | None,
    n_bootstrap: int, alpha: float, preset: str | None = None, metric: str | None = None, progress=None,
) -> list[CellComparison]:
    """A :class:`CellComparison` for every (task, protocol, preset, fraction) cell where both ``a`` and ``b`` have
    runs with shared seeds, sorted by task, protocol, preset and fraction. Raises :class:`EcampBenchError` when there
    is none. ``progress`` (an optional :class:`~ecamp_bench.progress.Progress`) shows a step per cell."""
    from ecamp_bench.progress import phase_progress
    from ecamp_bench.sweep.grid import short_backbone

    names = {short_backbone(a), short_backbone(b)}
    keys = {CellKey.from_row(r) for r in rows if _is_metric(r, metric) and r["backbone"] in names}
    cells = sorted({(k.task, k.table.protocol, k.table.preset, k.fraction) for k in keys
                    if (task is None or k.task == task) and (fraction is None or k.same_fraction(fraction))
                    and (protocol is None or k.table.protocol == protocol)
                    and (preset is None or k.table.preset == preset)})
    out = []
    with phase_progress("compare: paired tests (cells)", len(cells), progress, enabled=progress is not None) as step:
        for cell in cells:
            comparison = _compare_cell(rows, a, b, *cell, n_bootstrap=n_bootstrap, metric=metric)
            if comparison is not None:
                out.append(comparison)
            step()
    if not out:
        hints = "".join(did_you_mean(short_backbone(x), rows) for x in (a, b))
        raise EcampBenchError(
            f"'{a}' and '{b}' share no (task, protocol, preset, fraction, seed) in the results folder" + hints
        )
    return out
