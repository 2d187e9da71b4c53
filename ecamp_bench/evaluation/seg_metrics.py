"""Binary segmentation metrics: three Dice conventions, each with a seeded bootstrap 95% CI over test images.

- ``dice_per_image`` — the Kaggle SIIM convention reported by MGCA, MRM ("medDice") and ECAMP: per image
  ``2|P∩T| / (|P| + |T|)``; an image with an empty truth scores 1 if the prediction is empty, else 0;
  averaged over images.
- ``dice_dataset`` — foreground Dice from intersections and sizes summed over the test set
  (``2 Σ|P∩T| / (Σ|P| + Σ|T|)``); undefined (``None``) when truth and prediction are empty everywhere.
- ``dice_positive`` — the per-image Dice averaged over the images whose truth is not empty only
  (``None`` without positive images).

Masks are ``[N, H, W]``; predictions that are not boolean are thresholded at ``> threshold`` (0.5).
Everything is computed from per-image counts, so the bootstrap is vectorised over resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecamp_bench.evaluation.metrics import MetricValue, bootstrap_indices, percentile_ci

METRIC_NAMES = ("dice_per_image", "dice_dataset", "dice_positive")


@dataclass(frozen=True)
class DiceCounts:
    """Per-image counts ``[N]``: intersection ``|P∩T|``, predicted size ``|P|``, true size ``|T|``."""

    intersection: np.ndarray
    predicted: np.ndarray
    truth: np.ndarray

    @property
    def per_image(self) -> np.ndarray:
        """Kaggle per-image Dice ``[N]`` (empty truth: 1 if the prediction is empty, else 0)."""
        denominator = self.predicted + self.truth
        with np.errstate(invalid="ignore", divide="ignore"):
            dice = 2.0 * self.intersection / denominator
        return np.where(self.truth == 0, (self.predicted == 0).astype(float), dice)


def binarize(masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean masks: booleans as they are, anything else ``> threshold``."""
    masks = np.asarray(masks)
    return masks if masks.dtype == bool else masks.astype(np.float32) > threshold


def dice_counts(targets: np.ndarray, predictions: np.ndarray, threshold: float = 0.5) -> DiceCounts:
    """Per-image counts of ``targets``/``predictions`` ``[N, H, W]`` (binarised at ``threshold``).

    NaN or ±inf in either raises :class:`~ecamp_bench.errors.NonFiniteError` (NaN is not "background").
    """
    from ecamp_bench.evaluation.finite import require_finite

    require_finite(targets, "dice: target masks")
    t, p = binarize(targets, threshold), binarize(require_finite(predictions, "dice: predicted masks"), threshold)
    if t.shape != p.shape:
        raise ValueError(f"targets {t.shape} and predictions {p.shape} differ in shape")
    n = t.shape[0]
    t, p = t.reshape(n, -1), p.reshape(n, -1)  # [N, H*W]
    return DiceCounts(
        intersection=(t & p).sum(axis=1).astype(np.float64),
        predicted=p.sum(axis=1).astype(np.float64),
        truth=t.sum(axis=1).astype(np.float64),
    )


def _dice_dataset(counts: DiceCounts, idx: np.ndarray) -> np.ndarray:
    """Dataset Dice for each resample of rows ``idx`` ``[B, N]`` → ``[B]`` (NaN when everything is empty)."""
    denominator = counts.predicted[idx].sum(axis=-1) + counts.truth[idx].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2.0 * counts.intersection[idx].sum(axis=-1) / denominator, np.nan)


def _dice_positive(counts: DiceCounts, idx: np.ndarray) -> np.ndarray:
    """Mean per-image Dice over positive images, per resample ``[B, N]`` → ``[B]`` (NaN without positives)."""
    positive = (counts.truth > 0).astype(float)
    n_positive = positive[idx].sum(axis=-1)
    total = (np.nan_to_num(counts.per_image) * positive)[idx].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_positive > 0, total / n_positive, np.nan)


def dice_values(counts: DiceCounts, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The three Dice figures for rows ``idx`` (``[N]`` or ``[B, N]``) → arrays of shape ``idx.shape[:-1]``."""
    return {
        "dice_per_image": counts.per_image[idx].mean(axis=-1),
        "dice_dataset": _dice_dataset(counts, idx),
        "dice_positive": _dice_positive(counts, idx),
    }


def _value(x: np.ndarray) -> float | None:
    return None if np.isnan(x) else float(x)


def segmentation_metrics(
    targets: np.ndarray, predictions: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5
) -> list[MetricValue]:
    """``dice_per_image`` (primary), ``dice_dataset`` and ``dice_positive`` with bootstrap 95% CIs."""
    counts = dice_counts(targets, predictions, threshold)
    n = len(counts.truth)
    point = dice_values(counts, np.arange(n))
    samples = dice_values(counts, bootstrap_indices(n, n_bootstrap, seed)) if n_bootstrap > 0 and n > 1 else {}
    metrics = []
    for name in METRIC_NAMES:
        ci = None
        resampled = samples.get(name)
        if resampled is not None and point[name] is not None and not np.isnan(point[name]):
            ci = percentile_ci(resampled)
        n_used = int((counts.truth > 0).sum()) if name == "dice_positive" else n
        metrics.append(MetricValue(name, _value(point[name]), True, ci, n_used))
    return metrics


def metric_values(predictions) -> dict[str, float | None]:
    """``{name: value}`` of the three Dice figures of saved predictions (masks ``[N, S, S]``), no bootstrap.

    The ``value_fn`` of segmentation ``MetricSpec``s: the leaderboard's paired bootstrap calls it on resamples.
    """
    return {m.name: m.value for m in segmentation_metrics(predictions.targets, predictions.scores, n_bootstrap=0)}


__all__ = ["METRIC_NAMES", "DiceCounts", "binarize", "dice_counts", "dice_values", "metric_values",
           "segmentation_metrics"]
