"""Detection metrics of ``rsna-det``: COCO-style mAP (all images, and MGCA's restricted subset) and the Kaggle score.

Inputs are per-image box lists ``[x1, y1, x2, y2]`` in pixels (any resolution, the same for truth and
prediction). Matching (:func:`match_detections`) is COCO's greedy rule: predictions of an image, by
descending score, each take the unmatched true box of highest IoU, a match needing IoU ``>= t`` (COCO's
rule; the Kaggle kernel's ``> t`` differs only on exact ties).

- :func:`average_precision`: 101-point interpolated AP (COCO): the precision envelope sampled at recall
  0, 0.01, ..., 1 (0 beyond the largest recall reached), from every prediction of every image pooled and
  sorted by score. Negatives' predictions are false positives; unmatched true boxes lower recall.
  Undefined (``None``) when the image set has no true box.
- ``map_40_75``: AP averaged over IoU 0.40, 0.45, ..., 0.75 over **all** images.
- ``map_40_75_mgca``: the same over the images with a true box **and** at least one prediction only (what
  MGCA's code scores, docs/protocols.md, "frozen-det"): optimistic, shown so published numbers can be compared.
- ``map_50``: AP at IoU 0.5 over all images.
- ``kaggle_rsna``: the RSNA Pneumonia challenge score: per image and threshold t in 0.40..0.75,
  ``TP / (TP + FP + FN)``, averaged over thresholds, then over images. An image with no true box and no
  prediction has no score and is **excluded** from the mean (the competition's convention); an image with
  no true box and some prediction scores 0.

Every metric has a seeded bootstrap 95% CI over test images (resampled with replacement; AP recomputed on
each resample, vectorised over replicates with weights = how often each image was drawn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecamp_bench.evaluation.metrics import MetricValue, bootstrap_indices, percentile_ci

IOU_40_75 = tuple(round(0.40 + 0.05 * k, 2) for k in range(8))  # 0.40, 0.45, ..., 0.75
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
_BOOTSTRAP_CHUNK = 64


@dataclass(frozen=True)
class ImageDetections:
    """One image: true boxes ``[G, 4]`` and predicted boxes ``[P, 4]`` with scores ``[P]`` (x1, y1, x2, y2)."""

    gt: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        from ecamp_bench.evaluation.finite import require_finite

        require_finite(self.gt, "map: true boxes")
        require_finite(self.boxes, "map: predicted boxes")
        require_finite(self.scores, "map: predicted scores")  # NaN is not "the lowest score"

    @classmethod
    def of(cls, gt: Sequence, boxes: Sequence = (), scores: Sequence = ()) -> ImageDetections:
        """Build from lists (empty lists allowed)."""
        return cls(
            np.asarray(gt, dtype=np.float64).reshape(-1, 4),
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(scores, dtype=np.float64).reshape(-1),
        )


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``[N, M]`` of boxes ``a`` ``[N, 4]`` and ``b`` ``[M, 4]`` (x1, y1, x2, y2; empty boxes → 0)."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # [N, M, 2]
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])  # [N, M, 2]
    inter = np.clip(rb - lt, 0.0, None).prod(axis=-1)  # [N, M]
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(axis=-1)  # [N]
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(axis=-1)  # [M]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_detections(image: ImageDetections, thresholds: Sequence[float]) -> np.ndarray:
    """``[P, T]`` bool: whether each prediction (in the image's given order) is a true positive at each threshold."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n_pred, n_gt = len(image.scores), len(image.gt)
    tp = np.zeros((n_pred, len(thresholds)), dtype=bool)
    if n_pred == 0 or n_gt == 0:
        return tp
    iou = box_iou(image.boxes, image.gt)  # [P, G]
    taken = np.zeros((len(thresholds), n_gt), dtype=bool)  # [T, G]
    for p in np.argsort(-image.scores, kind="stable"):  # greedy by score; P is small per image
        candidates = np.where(taken, -1.0, iou[p][None, :])  # [T, G]
        best = candidates.argmax(axis=1)  # [T]
        ok = candidates[np.arange(len(thresholds)), best] >= thresholds  # COCO: a tie (IoU == t) matches
        tp[p] = ok
        taken[np.arange(len(thresholds))[ok], best[ok]] = True
    return tp


@dataclass(frozen=True)
class _Pooled:
    """Every prediction of an image set, sorted by descending score, with its image and TP flags."""

    image: np.ndarray  # [P] image index of each prediction
    tp: np.ndarray  # [P, T] bool
    n_gt: np.ndarray  # [N] true boxes per image


def _pool(images: Sequence[ImageDetections], thresholds: Sequence[float]) -> _Pooled:
    scores = [im.scores for im in images]
    tps = [match_detections(im, thresholds) for im in images]
    owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(scores)] or [np.zeros(0)]).astype(np.int64)
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    tp = np.concatenate(tps) if tps else np.zeros((0, len(thresholds)), dtype=bool)
    order = np.argsort(-all_scores, kind="stable")
    return _Pooled(owner[order], tp[order], np.array([len(im.gt) for im in images], dtype=np.int64))


def _ap_from_weights(pooled: _Pooled, weights: np.ndarray) -> np.ndarray:
    """AP ``[B, T]`` for image weights ``[B, N]`` (1 = once; bootstrap counts); NaN where no true box is weighted."""
    w = weights[:, pooled.image].astype(np.float64)  # [B, P]
    tp = pooled.tp.astype(np.float64)  # [P, T]
    ctp = np.cumsum(w[:, :, None] * tp[None], axis=1)  # [B, P, T]
    cfp = np.cumsum(w[:, :, None] * (1.0 - tp)[None], axis=1)  # [B, P, T]
    n_gt = (weights * pooled.n_gt[None, :]).sum(axis=1).astype(np.float64)  # [B]
    b, p, t = ctp.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = ctp / n_gt[:, None, None]
        precision = np.where(ctp + cfp > 0, ctp / (ctp + cfp), 0.0)
    envelope = np.flip(np.maximum.accumulate(np.flip(precision, axis=1), axis=1), axis=1)  # [B, P, T]
    # Batched searchsorted: offset each (b, t) row into its own interval so one flat sorted array serves all.
    rows = np.moveaxis(recall, 1, 2).reshape(b * t, p)  # [BT, P], non-decreasing along P
    rows = np.nan_to_num(rows, nan=0.0)
    offset = 2.0 * np.arange(b * t)[:, None]
    flat = (rows + offset).ravel()
    queries = (RECALL_POINTS[None, :] + offset).ravel()  # [BT * 101]
    idx = np.searchsorted(flat, queries, side="left").reshape(b * t, -1) - (p * np.arange(b * t))[:, None]
    env = np.moveaxis(envelope, 1, 2).reshape(b * t, p)
    inside = idx < p
    sampled = np.where(inside, np.take_along_axis(env, np.minimum(idx, max(p - 1, 0)), axis=1) if p else 0.0, 0.0)
    ap = sampled.mean(axis=1).reshape(b, t)
    return np.where(n_gt[:, None] > 0, ap, np.nan)


def mean_ap(images: Sequence[ImageDetections], thresholds: Sequence[float] = IOU_40_75) -> float | None:
    """COCO-style AP averaged over ``thresholds`` over all ``images``; ``None`` when no image has a true box."""
    if not images:
        return None
    ap = _ap_from_weights(_pool(images, thresholds), np.ones((1, len(images))))[0]
    return None if np.isnan(ap).any() else float(ap.mean())


def mgca_subset(images: Sequence[ImageDetections]) -> list[int]:
    """Indices of the images MGCA's evaluation keeps: at least one true box and at least one prediction."""
    return [i for i, im in enumerate(images) if len(im.gt) and len(im.scores)]


def kaggle_per_image(images: Sequence[ImageDetections], thresholds: Sequence[float] = IOU_40_75) -> np.ndarray:
    """``[N]`` Kaggle RSNA score per image (mean over thresholds of TP/(TP+FP+FN)); NaN = no box and no prediction."""
    out = np.full(len(images), np.nan)
    for i, im in enumerate(images):
        if not len(im.gt) and not len(im.scores):
            continue
        tp = match_detections(im, thresholds).sum(axis=0)  # [T]
        fp = len(im.scores) - tp
        fn = len(im.gt) - tp
        out[i] = float(np.mean(tp / (tp + fp + fn)))
    return out


def _ci(samples: np.ndarray) -> tuple[float, float] | None:
    return percentile_ci(samples)


def _bootstrap_map(images, thresholds, idx: np.ndarray) -> np.ndarray:
    """mAP of each bootstrap replicate ``idx`` ``[B, N]`` (NaN where undefined)."""
    pooled = _pool(images, thresholds)
    out = []
    for start in range(0, len(idx), _BOOTSTRAP_CHUNK):
        chunk = idx[start : start + _BOOTSTRAP_CHUNK]  # [b, N]
        counts = np.zeros((len(chunk), len(images)))
        np.add.at(counts, (np.arange(len(chunk))[:, None], chunk), 1.0)
        out.append(_ap_from_weights(pooled, counts).mean(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


def detection_metrics(
    images: Sequence[ImageDetections], *, n_bootstrap: int = 1000, seed: int = 0
) -> list[MetricValue]:
    """``map_40_75`` (primary), ``map_40_75_mgca``, ``map_50`` and ``kaggle_rsna`` with bootstrap 95% CIs."""
    images = list(images)
    n = len(images)
    idx = bootstrap_indices(n, n_bootstrap, seed) if n_bootstrap > 0 and n > 1 else np.zeros((0, n), dtype=int)
    metrics = []
    for name, thresholds in (("map_40_75", IOU_40_75), ("map_50", (0.5,))):
        value = mean_ap(images, thresholds)
        ci = _ci(_bootstrap_map(images, thresholds, idx)) if value is not None and len(idx) else None
        metrics.append(MetricValue(name, value, True, ci, n))
    keep = mgca_subset(images)
    subset = [images[i] for i in keep]
    value = mean_ap(subset, IOU_40_75) if subset else None
    sub_idx = bootstrap_indices(len(subset), n_bootstrap, seed) if n_bootstrap > 0 and len(subset) > 1 else None
    ci = _ci(_bootstrap_map(subset, IOU_40_75, sub_idx)) if value is not None and sub_idx is not None else None
    metrics.insert(1, MetricValue("map_40_75_mgca", value, True, ci, len(subset)))
    per_image = kaggle_per_image(images)
    scored = ~np.isnan(per_image)
    kaggle = float(per_image[scored].mean()) if scored.any() else None
    ci = None
    if kaggle is not None and len(idx):
        ci = _ci(_safe_nanmean(per_image[idx]))  # [B, N] → [B]
    metrics.append(MetricValue("kaggle_rsna", kaggle, True, ci, int(scored.sum())))
    return metrics


def _safe_nanmean(draws: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN; NaN for rows with no scored image."""
    count = np.isfinite(draws).sum(axis=1)
    total = np.nansum(draws, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def images_from_predictions(predictions) -> list[ImageDetections]:
    """One :class:`ImageDetections` per image from detection ``Predictions``' flat arrays.

    The layout: ``extras`` ``pred_boxes``, ``pred_scores``, ``pred_offsets`` (written by the protocol,
    ``ecamp_bench.mm.det_train.detection_predictions``) and ``gt_boxes``, ``gt_offsets`` (attached by the
    task through :func:`pack_boxes`); offsets ``[N + 1]``.
    """
    ex = predictions.extras
    missing = {"pred_boxes", "pred_scores", "pred_offsets", "gt_boxes", "gt_offsets"} - set(ex)
    if missing:
        raise ValueError(f"detection predictions lack {sorted(missing)}")
    po, go = np.asarray(ex["pred_offsets"]), np.asarray(ex["gt_offsets"])
    if len(po) != len(predictions.ids) + 1 or len(go) != len(predictions.ids) + 1:
        raise ValueError("detection predictions: offsets do not match the number of images")
    gt, boxes, scores = ex["gt_boxes"], ex["pred_boxes"], ex["pred_scores"]
    return [
        ImageDetections.of(gt[go[i] : go[i + 1]], boxes[po[i] : po[i + 1]], scores[po[i] : po[i + 1]])
        for i in range(len(predictions.ids))
    ]


def pack_boxes(per_image: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-image boxes (``N × [G_i, 4]``) → ``(boxes [G, 4] float32, offsets [N + 1] int64)``."""
    arrays = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in per_image]
    boxes = np.concatenate(arrays or [np.zeros((0, 4))]).astype(np.float32).reshape(-1, 4)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in arrays])]).astype(np.int64)
    return boxes, offsets


def metric_values(predictions) -> dict[str, float | None]:
    """``{name: value}`` of the detection metrics of saved predictions (truth attached), no bootstrap.

    The ``value_fn`` of detection ``MetricSpec``s: the leaderboard's paired bootstrap calls it on resamples.
    """
    return {m.name: m.value for m in detection_metrics(images_from_predictions(predictions), n_bootstrap=0)}


__all__ = [
    "IOU_40_75", "ImageDetections", "box_iou", "detection_metrics", "images_from_predictions", "kaggle_per_image",
    "match_detections", "mean_ap", "metric_values", "mgca_subset", "pack_boxes",
]
