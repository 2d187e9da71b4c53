"""Classification metrics: ROC AUC (scikit-learn for the point estimate) with seeded bootstrap 95% CIs.

The bootstrap resamples test images with replacement ``n_bootstrap`` times (seeded); a resample in which a
label has a single class has no AUC and is skipped (for the macro AUC: skipped if any label is degenerate).
Every metric refuses NaN/±inf scores (:func:`~ecamp_bench.evaluation.finite.require_finite`); NaN *targets*
mean "label not given" and are skipped. The resampled AUCs are computed in one vectorised pass with the rank formula
``AUC = (sum of positive ranks - P (P + 1) / 2) / (P N)`` (ties get average ranks, as in scikit-learn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from ecamp_bench.evaluation.finite import require_finite


CI_LEVEL = 0.95  # every reported interval: a two-sided 95% CI (bootstrap percentiles 2.5 / 97.5, DeLong z 1.96)


def percentile_ci(samples: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float] | None:
    """The percentile interval ``(q_lo, q_hi)`` at ``level`` of the finite ``samples`` (``None`` with fewer than 2).

    ``level = 0.95`` → numpy's (linear-interpolation) 2.5th and 97.5th percentiles.
    """
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if samples.size < 2:
        return None
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class MetricValue:
    """One reported metric: value (``None`` when undefined on this test set), 95% CI, and test-set size."""

    name: str
    value: float | None
    higher_is_better: bool = True
    ci95: tuple[float, float] | None = None
    n: int = 0

    def to_record(self) -> dict:
        """The metric as it appears in a result record."""
        return {
            "name": self.name,
            "value": self.value,
            "higher_is_better": self.higher_is_better,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "n": self.n,
        }


def binary_auc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """scikit-learn ROC AUC of one label (NaN targets ignored); ``None`` when only one class is present."""
    targets, scores = np.asarray(targets, dtype=float), require_finite(np.asarray(scores, dtype=float), "auc: scores")
    keep = ~np.isnan(targets)
    y = targets[keep] > 0.5
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, scores[keep]))


def rank_auc(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Vectorised AUC over the last axis: ``targets``/``scores`` ``[..., N]`` (0/1) → ``[...]`` (NaN if degenerate)."""
    ranks = rankdata(scores, axis=-1)  # [..., N], average ranks for ties
    positive = targets > 0.5
    n_pos = positive.sum(axis=-1)
    n_neg = positive.shape[-1] - n_pos
    rank_sum = np.where(positive, ranks, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def bootstrap_indices(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """``[n_bootstrap, n]`` row indices drawn with replacement from a generator seeded with ``seed``."""
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def auc_with_ci(
    targets: np.ndarray, scores: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0
) -> tuple[float | None, np.ndarray, tuple[float, float] | None]:
    """Macro AUC over the columns of ``targets``/``scores`` ``[N, C]``, per-label AUCs, and a bootstrap CI.

    Returns ``(macro, per_label [C], ci95 or None)``. Rows with a NaN target in a column are dropped for
    that column's point estimate; the bootstrap uses rows whose targets are all defined.
    """
    targets = np.asarray(targets, dtype=float).reshape(len(targets), -1)
    scores = require_finite(np.asarray(scores, dtype=float).reshape(len(scores), -1), "auc: scores")
    per_label = np.array([_nan_if_none(binary_auc(targets[:, c], scores[:, c])) for c in range(targets.shape[1])])
    macro = None if np.isnan(per_label).any() else float(per_label.mean())
    ci = None
    complete = ~np.isnan(targets).any(axis=1)
    if macro is not None and n_bootstrap > 0 and complete.sum() > 1:
        y, s = targets[complete], scores[complete]
        idx = bootstrap_indices(len(y), n_bootstrap, seed)  # [B, N]
        aucs = rank_auc(y[idx].transpose(0, 2, 1), s[idx].transpose(0, 2, 1))  # [B, C]
        valid = ~np.isnan(aucs).any(axis=1)
        ci = percentile_ci(aucs[valid].mean(axis=1))
    return macro, per_label, ci


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def auc_metrics(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    primary: str = "auc",
) -> list[MetricValue]:
    """The record metrics of a classification task: ``auc`` (macro) with CI, then ``auc/<label>`` per label.

    With a single label the macro AUC is that label's AUC and no per-label entries are added.
    """
    macro, per_label, ci = auc_with_ci(targets, scores, n_bootstrap=n_bootstrap, seed=seed)
    n = int(len(targets))
    metrics = [MetricValue(primary, macro, True, ci, n)]
    if len(labels) > 1:
        for c, label in enumerate(labels):
            label_ci = None
            if not math.isnan(per_label[c]) and n_bootstrap > 0:
                _, _, label_ci = auc_with_ci(targets[:, [c]], scores[:, [c]], n_bootstrap=n_bootstrap, seed=seed)
            value = None if math.isnan(per_label[c]) else float(per_label[c])
            metrics.append(MetricValue(f"{primary}/{label}", value, True, label_ci, n))
    return metrics


def accuracy_with_ci(
    targets: np.ndarray, scores: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0
) -> tuple[float | None, tuple[float, float] | None]:
    """Top-1 accuracy of single-label predictions and its bootstrap 95% CI.

    ``targets`` ``[N, C]`` one-hot, ``scores`` ``[N, C]``; the predicted class is the arg-max of the scores
    (the lowest index on a tie, as numpy's ``argmax``). ``(None, None)`` for an empty test set.
    """
    targets = np.asarray(targets, dtype=float).reshape(len(targets), -1)
    scores = require_finite(np.asarray(scores, dtype=float).reshape(len(scores), -1), "accuracy: scores")
    if not len(targets):
        return None, None
    correct = (scores.argmax(axis=1) == targets.argmax(axis=1)).astype(np.float64)  # [N]
    ci = None
    if n_bootstrap > 0 and len(correct) > 1:
        samples = correct[bootstrap_indices(len(correct), n_bootstrap, seed)].mean(axis=1)  # [B]
        lo, hi = np.percentile(samples, [2.5, 97.5])
        ci = (float(lo), float(hi))
    return float(correct.mean()), ci


def single_label_metrics(
    targets: np.ndarray, scores: np.ndarray, labels: Sequence[str], *, n_bootstrap: int = 1000, seed: int = 0
) -> list[MetricValue]:
    """The record metrics of a single-label (multi-class) task: ``accuracy`` (primary) and ``auc``.

    ``auc`` is the macro one-vs-rest ROC AUC over the classes (each class's probability against the rest),
    with the same bootstrap CI as :func:`auc_with_ci`; undefined (``None``) when a class is absent from the test set.
    """
    accuracy, accuracy_ci = accuracy_with_ci(targets, scores, n_bootstrap=n_bootstrap, seed=seed)
    macro, _, auc_ci = auc_with_ci(targets, scores, n_bootstrap=n_bootstrap, seed=seed)
    n = int(len(targets))
    return [MetricValue("accuracy", accuracy, True, accuracy_ci, n), MetricValue("auc", macro, True, auc_ci, n)]


def single_label_values(predictions) -> dict[str, float | None]:
    """``{"accuracy": ..., "auc": ...}`` of saved single-label predictions, no bootstrap.

    The ``value_fn`` of single-label ``MetricSpec``s: the leaderboard's paired bootstrap calls it on resamples.
    """
    metrics = single_label_metrics(predictions.targets, predictions.scores, predictions.label_names, n_bootstrap=0)
    return {m.name: m.value for m in metrics}
