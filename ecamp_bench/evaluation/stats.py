"""Paired tests between two models scored on the same test images.

- **DeLong's test** for two correlated ROC AUCs (DeLong, DeLong & Clarke-Pearson, Biometrics 1988), computed
  with the O(N log N) midrank algorithm (Sun & Xu, IEEE SPL 2014): with ``m`` positives ``X`` and ``n``
  negatives ``Y``, the structural components are ``V10(X_i) = (1/n) Σ_j ψ(X_i, Y_j)`` and
  ``V01(Y_j) = (1/m) Σ_i ψ(X_i, Y_j)`` (``ψ`` = 1 if ``X > Y``, ½ on a tie, else 0). Midranks give them without
  the ``m × n`` pair matrix: ``V10 = (rank of X_i among all − rank of X_i among positives) / n`` and
  ``V01 = 1 − (rank of Y_j among all − rank of Y_j among negatives) / m``. The covariance of the AUCs of
  ``K`` models is ``S10 / m + S01 / n`` (sample covariances of the components), and
  ``z = (AUC_A − AUC_B) / sqrt(Var A + Var B − 2 Cov AB)`` is compared with a standard normal (two-sided).
- **Paired bootstrap** for any metric (Dice, mAP, macro AUC, ...): the same resampled test images are scored
  for both models; the 95% CI of the difference is the percentile interval, and the two-sided p-value is
  ``min(1, 2 · (min(#{d ≤ 0}, #{d ≥ 0}) + 1) / (B + 1))`` over the ``B`` resampled differences ``d``
  (the percentile test of "difference = 0"; identical models give p = 1).

The **macro AUC** of a multi-label task is compared with a paired bootstrap of the macro AUC difference
(not an average of per-label DeLong statistics); every label additionally gets its own DeLong test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from ecamp_bench.errors import DataError
from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.metrics import CI_LEVEL, bootstrap_indices, percentile_ci, rank_auc

DELONG = "DeLong"
BOOTSTRAP = "paired bootstrap"


@dataclass(frozen=True)
class PairedTest:
    """One metric of A vs B on the same images: values, difference A − B with 95% CI, p-value and test name."""

    metric: str
    value_a: float | None
    value_b: float | None
    difference: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    test: str
    n: int

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the two-sided p-value is below ``alpha``."""
        return self.p_value is not None and self.p_value < alpha


def align_predictions(a: Predictions, b: Predictions,
                      names: tuple[str, str] = ("A", "B")) -> tuple[Predictions, Predictions]:
    """``b`` reordered to ``a``'s image order (extras included); a DataError when the test sets, labels or targets
    differ."""
    for name, pred in zip(names, (a, b)):
        if len(set(pred.ids)) != len(pred.ids):
            raise DataError(f"predictions of {name} list {len(pred.ids) - len(set(pred.ids))} image id(s) twice")
    common = set(a.ids) & set(b.ids)
    if len(common) != len(a.ids) or len(common) != len(b.ids):
        raise DataError(
            f"the test sets differ: {names[0]} has {len(a.ids)} images, {names[1]} has {len(b.ids)}, "
            f"{len(common)} in common; a paired test needs the same test images (same task, data and split)"
        )
    if tuple(a.label_names) != tuple(b.label_names):
        raise DataError(f"label names differ: {names[0]} {list(a.label_names)} vs {names[1]} {list(b.label_names)}")
    position = {image_id: i for i, image_id in enumerate(b.ids)}
    order = np.array([position[i] for i in a.ids], dtype=np.int64)  # [N]
    aligned = subset(b, order)
    ta, tb = np.asarray(a.targets, dtype=float), np.asarray(aligned.targets, dtype=float)
    mismatch = ~((ta == tb) | (np.isnan(ta) & np.isnan(tb)))
    if mismatch.any():
        raise DataError(f"targets differ on {int(mismatch.any(axis=tuple(range(1, ta.ndim))).sum())} image(s) "
                        f"between {names[0]} and {names[1]} (different label policy or data?)")
    return a, aligned


def delong_covariance(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``[K]`` and their DeLong covariance ``[K, K]`` for binary ``targets`` ``[N]`` and ``scores`` ``[K, N]``."""
    positive = np.asarray(targets, dtype=float) > 0.5  # [N]
    scores = np.atleast_2d(np.asarray(scores, dtype=float))  # [K, N]
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise DataError(f"DeLong's test needs at least 2 positives and 2 negatives (got {m} and {n})")
    x, y = scores[:, positive], scores[:, ~positive]  # [K, m], [K, n]
    tx = rankdata(x, axis=1)  # [K, m] midranks among positives
    ty = rankdata(y, axis=1)  # [K, n] midranks among negatives
    tz = rankdata(np.concatenate([x, y], axis=1), axis=1)  # [K, m + n] midranks among all
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)  # [K]
    v10 = (tz[:, :m] - tx) / n  # [K, m]
    v01 = 1.0 - (tz[:, m:] - ty) / m  # [K, n]
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n  # [K, K]
    return aucs, cov


def delong_test(targets: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, metric: str = "auc") -> PairedTest:
    """DeLong's two-sided test of AUC(A) = AUC(B) on one binary label (rows with a NaN target are dropped)."""
    from ecamp_bench.evaluation.finite import require_finite

    targets = np.asarray(targets, dtype=float)
    require_finite(scores_a, "delong: scores of A")
    require_finite(scores_b, "delong: scores of B")
    keep = ~np.isnan(targets)
    aucs, cov = delong_covariance(targets[keep], np.stack([np.asarray(scores_a)[keep], np.asarray(scores_b)[keep]]))
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if variance <= 1e-15:
        p_value, ci = (1.0 if abs(difference) < 1e-12 else 0.0), (difference, difference)
    else:
        se = variance**0.5
        p_value = float(2.0 * norm.sf(abs(difference) / se))
        z = float(norm.ppf(0.5 + CI_LEVEL / 2.0))  # 1.959963984540054 for the 95% interval
        ci = (difference - z * se, difference + z * se)
    return PairedTest(metric, float(aucs[0]), float(aucs[1]), difference, ci, p_value, DELONG, int(keep.sum()))


def _subset_extras(extras: dict[str, np.ndarray], index: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Resample ``extras`` with the rows ``index``.

    An extra ``<group>_offsets`` (``[n + 1]``) marks ragged per-image data: every ``<group>_*`` array is
    cut at those offsets, the slices of the chosen rows are concatenated and new offsets written. Other
    extras with ``n`` rows are indexed directly; anything else is kept as it is.
    """
    out: dict[str, np.ndarray] = {}
    ragged = {key[: -len("_offsets")] for key, value in extras.items()
              if key.endswith("_offsets") and len(value) == n + 1}
    for group in ragged:
        offsets = np.asarray(extras[f"{group}_offsets"])
        starts, ends = offsets[index], offsets[index + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if len(index) else np.arange(0)
        out[f"{group}_offsets"] = np.concatenate([[0], np.cumsum(ends - starts)]).astype(offsets.dtype)
        for key, value in extras.items():
            if key.startswith(f"{group}_") and key != f"{group}_offsets":
                out[key] = np.asarray(value)[rows.astype(np.int64)]
    for key, value in extras.items():
        if key not in out:
            out[key] = np.asarray(value)[index] if len(value) == n else value
    return out


def subset(predictions: Predictions, index: np.ndarray) -> Predictions:
    """The predictions of the rows ``index`` (repeats allowed, as in a bootstrap resample), extras included."""
    index = np.asarray(index, dtype=np.int64)
    ids = np.asarray(predictions.ids, dtype=object)[index]
    return Predictions(
        tuple(ids),
        np.asarray(predictions.targets)[index],
        np.asarray(predictions.scores)[index],
        predictions.label_names,
        extras=_subset_extras(predictions.extras, index, len(predictions.ids)),
    )


def _summarise(metric: str, a: float | None, b: float | None, diffs: np.ndarray, n: int, test: str) -> PairedTest:
    diffs = diffs[np.isfinite(diffs)]
    if a is None or b is None or len(diffs) < 2:
        return PairedTest(metric, a, b, None if a is None or b is None else a - b, None, None, test, n)
    tail = min(int((diffs <= 0).sum()), int((diffs >= 0).sum()))
    p_value = min(1.0, 2.0 * (tail + 1) / (len(diffs) + 1))
    return PairedTest(metric, a, b, a - b, percentile_ci(diffs), p_value, test, n)


def paired_bootstrap(
    metric_fn: Callable[[Predictions], float | None],
    a: Predictions,
    b: Predictions,
    *,
    metric: str = "metric",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> PairedTest:
    """Paired bootstrap of ``metric_fn(A) − metric_fn(B)`` on aligned predictions (see the module docstring).

    ``metric_fn`` computes the metric from a :class:`Predictions` subset (``None``/NaN when undefined on a
    resample, which is then dropped). ``a`` and ``b`` must list the same ids in the same order.
    """
    if tuple(a.ids) != tuple(b.ids):
        raise DataError("paired bootstrap needs aligned predictions (use align_predictions first)")
    value_a, value_b = _finite(metric_fn(a)), _finite(metric_fn(b))
    diffs = np.full(n_bootstrap, np.nan)
    for i, index in enumerate(bootstrap_indices(len(a.ids), n_bootstrap, seed)):
        da, db = _finite(metric_fn(subset(a, index))), _finite(metric_fn(subset(b, index)))
        if da is not None and db is not None:
            diffs[i] = da - db
    return _summarise(metric, value_a, value_b, diffs, len(a.ids), f"{BOOTSTRAP} (B={n_bootstrap})")


def paired_bootstrap_macro_auc(
    a: Predictions, b: Predictions, *, metric: str = "auc", n_bootstrap: int = 1000, seed: int = 0, chunk: int = 100
) -> PairedTest:
    """Vectorised paired bootstrap of the macro AUC difference (rows with any NaN target are dropped)."""
    if tuple(a.ids) != tuple(b.ids):
        raise DataError("paired bootstrap needs aligned predictions (use align_predictions first)")
    targets = np.asarray(a.targets, dtype=float).reshape(len(a.ids), -1)  # [N, C]
    complete = ~np.isnan(targets).any(axis=1)
    y = targets[complete].T  # [C, N']
    sa = np.asarray(a.scores, dtype=float).reshape(len(a.ids), -1)[complete].T  # [C, N']
    sb = np.asarray(b.scores, dtype=float).reshape(len(b.ids), -1)[complete].T  # [C, N']
    value_a, value_b = _finite(float(np.mean(rank_auc(y, sa)))), _finite(float(np.mean(rank_auc(y, sb))))
    index = bootstrap_indices(y.shape[1], n_bootstrap, seed)  # [B, N']
    diffs = []
    for start in range(0, n_bootstrap, chunk):
        rows = index[start : start + chunk]  # [b, N']
        # [b, C, N']
        ya, pa, pb = y[:, rows].transpose(1, 0, 2), sa[:, rows].transpose(1, 0, 2), sb[:, rows].transpose(1, 0, 2)
        diffs.append(rank_auc(ya, pa).mean(axis=1) - rank_auc(ya, pb).mean(axis=1))  # [b]; NaN if a label is degenerate
    all_diffs = np.concatenate(diffs) if diffs else np.empty(0)
    return _summarise(metric, value_a, value_b, all_diffs, int(complete.sum()), f"{BOOTSTRAP} (B={n_bootstrap})")


def compare_auc(a: Predictions, b: Predictions, *, n_bootstrap: int = 1000, seed: int = 0,
                metric: str = "auc") -> list[PairedTest]:
    """AUC comparison of aligned predictions: ``auc`` first, then ``auc/<label>`` per label (multi-label only).

    Single label: DeLong's test. Several labels: the macro ``auc`` by paired bootstrap of the macro AUC
    difference, each label by DeLong's test.
    """
    targets, scores_a, scores_b = (np.asarray(x, dtype=float).reshape(len(a.ids), -1)
                                   for x in (a.targets, a.scores, b.scores))
    if targets.shape[1] == 1:
        return [delong_test(targets[:, 0], scores_a[:, 0], scores_b[:, 0], metric)]
    tests = [paired_bootstrap_macro_auc(a, b, metric=metric, n_bootstrap=n_bootstrap, seed=seed)]
    names = a.label_names or tuple(str(c) for c in range(targets.shape[1]))
    for c, label in enumerate(names):
        try:
            tests.append(delong_test(targets[:, c], scores_a[:, c], scores_b[:, c], f"{metric}/{label}"))
        except DataError:  # a label with < 2 positives or negatives has no DeLong test; the others still do
            undefined = f"{DELONG} (undefined: < 2 positives or negatives)"
            tests.append(PairedTest(f"{metric}/{label}", None, None, None, None, None, undefined, len(a.ids)))
    return tests


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
