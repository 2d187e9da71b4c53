"""Calibration of classification scores: expected calibration error (equal-mass bins), Brier score, reliability diagram.

Every label is scored one-vs-rest on its own probability column (for a single-label task: each class's softmax
probability against "not this class"); the macro values are the means over labels.

- ``ece``: :data:`N_BINS` = 15 **equal-mass** bins per label: the test images sorted by score (stable sort) and cut
  into 15 runs of (nearly) equal size (``numpy.array_split`` sizes);
  ``ECE = sum_k n_k / N · |mean(y_k) − mean(p_k)|``.
  Equal-mass bins keep every bin populated when scores crowd near 0 (rare findings), where equal-width bins
  leave most bins empty. Lower is better; 0 = calibrated.
- ``brier``: ``mean((p − y)²)`` per label. Lower is better.

Both come with a bootstrap 95% CI over test images (the same resampling as the AUC CIs). ECE is biased upward on a
resample (duplicated images add noise to every bin, and ``|.|`` turns noise into error), often by more than the
interval's half-width, so its percentile interval is shifted by the bootstrap bias estimate
``mean(ECE*) − ECE``; Brier's is the plain percentile interval. They need probabilities
in ``[0, 1]`` (every built-in protocol returns them); for other scores (a protocol returning logits) the values
are ``None`` and no diagram is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecamp_bench.evaluation.finite import require_finite
from ecamp_bench.evaluation.metrics import MetricValue, bootstrap_indices, percentile_ci

N_BINS = 15
BINNING = "equal-mass"


def _bin_edges(n: int, n_bins: int = N_BINS) -> np.ndarray:
    """Start offsets ``[n_bins + 1]`` of ``numpy.array_split(range(n), n_bins)`` (empty bins when n < n_bins)."""
    sizes = np.full(n_bins, n // n_bins) + (np.arange(n_bins) < n % n_bins)
    return np.concatenate([[0], np.cumsum(sizes)])


def ece_rows(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-mass ECE over the last axis: ``y``/``p`` ``[..., N]`` → ``[...]``."""
    order = np.argsort(p, axis=-1, kind="stable")
    ys, ps = np.take_along_axis(y, order, -1), np.take_along_axis(p, order, -1)
    edges = _bin_edges(y.shape[-1], n_bins)
    zero = np.zeros((*y.shape[:-1], 1))
    cy, cp = np.concatenate([zero, np.cumsum(ys, -1)], -1), np.concatenate([zero, np.cumsum(ps, -1)], -1)  # [..., N+1]
    gap = np.abs((cy[..., edges[1:]] - cy[..., edges[:-1]]) - (cp[..., edges[1:]] - cp[..., edges[:-1]]))  # [..., K]
    return gap.sum(-1) / max(y.shape[-1], 1)


def brier_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Brier score over the last axis: ``[..., N]`` → ``[...]``."""
    return ((p - y) ** 2).mean(-1)


def _arrays(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    return y, np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)


def are_probabilities(scores: np.ndarray) -> bool:
    """Whether every score is finite and in ``[0, 1]``."""
    p = np.asarray(scores, dtype=np.float64)
    return bool(np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all())


def calibration_metrics(
    targets: np.ndarray, scores: np.ndarray, labels: Sequence[str], *, n_bootstrap: int = 1000, seed: int = 0
) -> list[MetricValue]:
    """``ece`` and ``brier`` (macro, CI), then ``ece/<label>`` and ``brier/<label>`` when there are several labels.

    Rows with a NaN target are left out (of every label, so all values share one set of images).
    """
    y, p = _arrays(targets, require_finite(np.asarray(scores, dtype=np.float64), "ece/brier: scores"))
    keep = ~np.isnan(y).any(axis=1)
    y, p = y[keep].T, p[keep].T  # [C, N]
    n = int(y.shape[1])
    if n == 0 or not are_probabilities(p):
        return [MetricValue(name, None, False, None, 0) for name in ("ece", "brier")]
    point = {"ece": ece_rows(y, p), "brier": brier_rows(y, p)}  # [C]
    boot = {}
    if n_bootstrap > 0 and n > 1:
        index = bootstrap_indices(n, n_bootstrap, seed)  # [B, N]
        yb, pb = y[:, index], p[:, index]  # [C, B, N]
        boot = {"ece": ece_rows(yb, pb), "brier": brier_rows(yb, pb)}  # [C, B]
    out = []
    for name in ("ece", "brier"):
        ci = _interval(name, boot[name].mean(axis=0), float(point[name].mean())) if boot else None
        out.append(MetricValue(name, float(point[name].mean()), False, ci, n))
    if len(labels) > 1:
        for name in ("ece", "brier"):
            for c, label in enumerate(labels):
                ci = _interval(name, boot[name][c], float(point[name][c])) if boot else None
                out.append(MetricValue(f"{name}/{label}", float(point[name][c]), False, ci, n))
    return out


def _interval(name: str, replicates: np.ndarray, point: float) -> tuple[float, float] | None:
    """Percentile CI; for ``ece`` shifted by the bootstrap bias (``mean(replicates) - point``, see the module
    docstring)."""
    if name == "ece":
        replicates = replicates - (np.nanmean(replicates) - point)
    return percentile_ci(replicates)


def calibration_values(predictions) -> dict[str, float | None]:
    """``{ece, brier, ece/<label>, brier/<label>}`` of saved predictions, no bootstrap (the metrics' ``value_fn``)."""
    metrics = calibration_metrics(predictions.targets, predictions.scores, predictions.label_names, n_bootstrap=0)
    return {m.name: m.value for m in metrics}


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Mean predicted probability and observed positive rate per equal-mass bin (``[K]`` each, empty bins dropped)."""
    order = np.argsort(p, kind="stable")
    edges = _bin_edges(len(p), n_bins)
    pairs = [(p[order[a:b]].mean(), y[order[a:b]].mean()) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return np.array([x for x, _ in pairs]), np.array([v for _, v in pairs])


def write_reliability_diagram(predictions, path: Path, title: str = "") -> Path | None:
    """Draw one reliability curve per label (equal-mass bins) plus the diagonal into a PNG at ``path``.

    ``None`` (nothing drawn) when the scores are not probabilities.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecamp_bench.atomic import atomic_path

    y, p = _arrays(predictions.targets, predictions.scores)
    if not are_probabilities(p):
        return None
    keep = ~np.isnan(y).any(axis=1)
    values = calibration_values(predictions)
    names = predictions.label_names or tuple(str(c) for c in range(y.shape[1]))
    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=100)
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="calibrated")
    for c, name in enumerate(names):
        if keep.sum():
            mean_p, rate = reliability_curve(y[keep, c], p[keep, c])
            ax.plot(mean_p, rate, marker="o", markersize=3, linewidth=1.2, label=str(name))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability (per bin)", ylabel="observed positive rate")
    ece = values.get("ece")
    ax.set_title(
        (title + "\n" if title else "") + f"ECE {ece:.3f} ({N_BINS} {BINNING} bins), Brier {values['brier']:.3f}"
        if ece is not None
        else title,
        fontsize=8,
    )
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    with atomic_path(Path(path), suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
