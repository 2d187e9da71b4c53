"""Parity of the dense metrics: ECAMP's and MGCA's Dice and mAP code versus ours, on the same predictions.

Usage (from the repository root; the authors' side needs torchmetrics 0.8.2 and pytorch-lightning 1.x, e.g.
a throw-away venv, see docs/parity.md)::

    python benchmarks/parity/metric_conventions.py dice --authors-repo /tmp/ECAMP --authors-repo /tmp/MGCA \
        --authors-python /tmp/parity-venv/bin/python --seeds 0,1,2
    python benchmarks/parity/metric_conventions.py map  --authors-repo ... --seeds 0,1,2

For each seed a synthetic test set of predictions is drawn (:func:`segmentation_case`,
:func:`detection_case`), scored by our metrics (``ecamp_bench.evaluation.seg_metrics`` /
``det_metrics``) and, in a separate process, by the authors' evaluation code (``authors_shim.py``).
Prints one markdown row per seed and metric with both values, and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_python, identify_repos, markdown_table, run_authors  # noqa: E402

from ecamp_bench.evaluation import det_metrics, seg_metrics  # noqa: E402

# The evaluation batch sizes of the authors' scripts (the Dice of MGCA depends on it).
ECAMP_SEG_EVAL_BATCH = 512  # ECAMP Fine-tuning/Segmentation/run.sh: --eval_batch_size 512
MGCA_SEG_BATCH = 8  # MGCA mgca/models/mgca/mgca_segmenter.py: --batch_size default 8 (the test loader's too)
ECAMP_DET_EVAL_BATCH = 1024  # ECAMP Fine-tuning/Detection/run.sh: --eval_batch_size 1024
MGCA_DET_BATCH = 16  # MGCA mgca/models/mgca/mgca_detector.py: --batch_size default 16


@dataclass(frozen=True)
class SegCase:
    """A synthetic segmentation test set: truth masks ``[N, S, S]`` bool, probabilities ``[N, S, S]`` float32."""

    truth: np.ndarray
    probabilities: np.ndarray


def segmentation_case(seed: int, n: int = 100, size: int = 64, positive_rate: float = 0.4) -> SegCase:
    """``n`` images: a disc of foreground in ``positive_rate`` of them; a noisy, shifted, rescaled disc predicted.

    Some negatives get a false-positive blob and some positives are missed, so every branch of the
    per-image convention (empty truth with empty or non-empty prediction) occurs. Probabilities stay at
    least 1e-3 away from the 0.5 threshold, so a round trip through logits cannot flip a pixel.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    truth = np.zeros((n, size, size), dtype=bool)
    logit = np.full((n, size, size), -4.0, dtype=np.float32)
    for i in range(n):
        positive = rng.random() < positive_rate
        cx, cy, r = rng.uniform(0.25, 0.75) * size, rng.uniform(0.25, 0.75) * size, rng.uniform(0.06, 0.2) * size
        if positive:
            truth[i] = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
        if (positive and rng.random() < 0.8) or (not positive and rng.random() < 0.25):
            px, py = cx + rng.normal(0, 0.4 * r), cy + rng.normal(0, 0.4 * r)
            pr = r * rng.uniform(0.6, 1.4)
            distance = np.sqrt((xx - px) ** 2 + (yy - py) ** 2)
            logit[i] = (pr - distance) / 2.0
        logit[i] += rng.normal(0.0, 1.0, size=(size, size)).astype(np.float32)
    prob = 1.0 / (1.0 + np.exp(-logit))
    prob = np.where(np.abs(prob - 0.5) < 1e-3, 0.5 + np.sign(prob - 0.5 + 1e-9) * 1e-3, prob)
    return SegCase(truth, np.clip(prob, 1e-4, 1 - 1e-4).astype(np.float32))


def ours_dice(case: SegCase) -> dict[str, float | None]:
    """Our three Dice figures of ``case`` (no bootstrap)."""
    return {m.name: m.value for m in seg_metrics.segmentation_metrics(case.truth, case.probabilities, n_bootstrap=0)}


def mgca_batch_mean_dice(case: SegCase, batch_size: int) -> float:
    """Per-image Dice averaged within each batch of ``batch_size`` in test order, then over batches (MGCA's
    ``test_epoch_end``): our reading of their convention, checked against their code by the comparison."""
    per_image = seg_metrics.dice_counts(case.truth, case.probabilities).per_image
    return float(np.mean([per_image[s : s + batch_size].mean() for s in range(0, len(per_image), batch_size)]))


@dataclass(frozen=True)
class DetCase:
    """A synthetic detection test set: per image true boxes and predicted boxes with scores (x1, y1, x2, y2 px)."""

    images: list[det_metrics.ImageDetections]

    def arrays(self) -> dict[str, np.ndarray]:
        gt, gt_off = det_metrics.pack_boxes([im.gt for im in self.images])
        pb, p_off = det_metrics.pack_boxes([im.boxes for im in self.images])
        scores = np.concatenate([im.scores for im in self.images] or [np.zeros(0)]).astype(np.float32)
        return {"gt_boxes": gt, "gt_offsets": gt_off, "pred_boxes": pb, "pred_scores": scores, "pred_offsets": p_off}


def _jitter(box: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    shift = rng.normal(0.0, scale, size=4) * np.array([w, h, w, h])
    return box + shift


def detection_case(seed: int, n: int = 120, size: int = 224, negative_rate: float = 0.4) -> DetCase:
    """``n`` images with 0-2 true boxes; a detector that finds most boxes (jittered, score rising with IoU), misses
    some, and fires false positives on some images, negatives included. Scores are in [0.5, 1) and boxes of one
    image overlap each other with IoU < 0.45, so the authors' confidence filter (0.5) and NMS (0.5) keep every
    prediction and both sides score the same detections."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        k = 0 if rng.random() < negative_rate else int(rng.integers(1, 3))
        gt = []
        for _ in range(k):
            w, h = rng.uniform(0.1, 0.35, size=2) * size
            x1, y1 = rng.uniform(0, size - w), rng.uniform(0, size - h)
            gt.append([x1, y1, x1 + w, y1 + h])
        preds, scores = [], []
        for box in gt:
            if rng.random() < 0.75:
                p = np.clip(_jitter(np.array(box), rng, rng.uniform(0.03, 0.25)), 0, size)
                iou = float(det_metrics.box_iou(p[None], np.array(box)[None])[0, 0])
                preds.append(p)
                scores.append(float(np.clip(0.5 + 0.45 * iou + rng.normal(0, 0.08), 0.5, 0.999)))
        if rng.random() < 0.3:
            w, h = rng.uniform(0.1, 0.3, size=2) * size
            x1, y1 = rng.uniform(0, size - w), rng.uniform(0, size - h)
            preds.append(np.array([x1, y1, x1 + w, y1 + h]))
            scores.append(float(rng.uniform(0.5, 0.9)))
        kept_boxes, kept_scores = [], []
        for i in np.argsort(-np.asarray(scores)) if scores else []:
            if kept_boxes and det_metrics.box_iou(preds[i][None], np.array(kept_boxes)).max() >= 0.45:
                continue
            kept_boxes.append(preds[i])
            kept_scores.append(scores[i])
        images.append(det_metrics.ImageDetections.of(gt, kept_boxes, kept_scores))
    return DetCase(images)


def ours_map(case: DetCase) -> dict[str, float | None]:
    """Our detection figures of ``case`` (no bootstrap)."""
    return {m.name: m.value for m in det_metrics.detection_metrics(case.images, n_bootstrap=0)}


def compare_dice(repos: dict[str, Path], seeds, python: str) -> str:
    rows = []
    for seed in seeds:
        case = segmentation_case(seed)
        ours = ours_dice(case)
        arrays = {"truth": case.truth, "probabilities": case.probabilities}
        row = [seed, len(case.truth), int((case.truth.reshape(len(case.truth), -1).any(1)).sum())]
        row += [ours["dice_per_image"], ours["dice_dataset"], ours["dice_positive"]]
        if "ecamp" in repos:
            theirs = run_authors("dice-ecamp", repos["ecamp"], arrays, python=python, batch_size=ECAMP_SEG_EVAL_BATCH)
            row += [theirs["value"], abs(theirs["value"] - ours["dice_per_image"])]
        if "mgca" in repos:
            theirs = run_authors("dice-mgca", repos["mgca"], arrays, python=python, batch_size=MGCA_SEG_BATCH)
            mine = mgca_batch_mean_dice(case, MGCA_SEG_BATCH)
            row += [theirs["value"], mine, abs(theirs["value"] - mine), theirs["value"] - ours["dice_per_image"]]
        rows.append(row)
    header = ["seed", "images", "positive", "ours dice_per_image", "ours dice_dataset", "ours dice_positive"]
    if "ecamp" in repos:
        header += ["ECAMP get_dice (batch 512)", "abs diff vs ours per-image"]
    if "mgca" in repos:
        header += [f"MGCA SSLSegmenter (batch {MGCA_SEG_BATCH})", "our batch-mean reading", "abs diff",
                   "MGCA - ours per-image"]
    return markdown_table(header, rows)


def compare_map(repos: dict[str, Path], seeds, python: str) -> str:
    rows = []
    for seed in seeds:
        case = detection_case(seed)
        ours = ours_map(case)
        arrays = case.arrays()
        n_pred = int(len(arrays["pred_scores"]))
        row = [seed, len(case.images), len(det_metrics.mgca_subset(case.images)), n_pred]
        row += [ours["map_40_75"], ours["map_40_75_mgca"]]
        for name, batch in (("ecamp", ECAMP_DET_EVAL_BATCH), ("mgca", MGCA_DET_BATCH)):
            if name in repos:
                theirs = run_authors(f"map-{name}", repos[name], arrays, python=python, batch_size=batch, size=224)
                if name == "ecamp" and theirs["kept_after_nms"] != n_pred:
                    raise RuntimeError(f"their NMS dropped predictions ({theirs['kept_after_nms']} of {n_pred})")
                row += [theirs["value"], abs(theirs["value"] - ours["map_40_75_mgca"])]
        rows.append(row)
    header = ["seed", "images", "scored by authors (GT and pred)", "predictions", "ours map_40_75 (all images)",
              "ours map_40_75_mgca"]
    for name in ("ecamp", "mgca"):
        if name in repos:
            header += [f"{name.upper()} torchmetrics mAP", "abs diff vs ours _mgca"]
    return markdown_table(header, rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Dice / mAP: the authors' evaluation code versus ours")
    parser.add_argument("metric", choices=("dice", "map"))
    parser.add_argument("--authors-repo", type=Path, action="append", required=True,
                        help="a checkout of ToniChopp/ECAMP or HKU-MedAI/MGCA (repeat for both)")
    parser.add_argument("--authors-python", default=default_python(),
                        help="interpreter with the authors' extras (torchmetrics 0.8.2, lightning 1.x)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    repos = identify_repos(args.authors_repo)
    seeds = [int(s) for s in args.seeds.split(",")]
    compare = compare_dice if args.metric == "dice" else compare_map
    print(compare(repos, seeds, args.authors_python))


if __name__ == "__main__":
    main()
