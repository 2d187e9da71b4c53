"""Pinned confidence levels and tie rules, with cases computed by hand or independently of the code under test.

Each test here exists to fail when a constant drifts: the bootstrap CI level (95 %, i.e. the 2.5th/97.5th
percentiles), DeLong's normal quantile (1.959963984540054, not 1.645), and COCO's IoU tie rule (a
prediction with IoU exactly equal to the threshold is a match: ``>=``, not ``>``). The mAP variants are
cross-checked against pycocotools on random boxes where the definitions coincide.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ecamp_bench.evaluation.det_metrics import IOU_40_75, ImageDetections, detection_metrics, match_detections, mean_ap
from ecamp_bench.evaluation.metrics import auc_with_ci, percentile_ci
from ecamp_bench.evaluation.seg_metrics import segmentation_metrics
from ecamp_bench.evaluation.stats import delong_test


def test_percentile_ci_is_the_95_percent_interval_by_hand():
    samples = np.arange(1.0, 41.0)  # 1..40: numpy's linear percentiles, rank = p / 100 * 39
    # 2.5 % → rank 0.975 → 1 + 0.975 = 1.975; 97.5 % → rank 38.025 → 39 + 0.025 = 39.025
    assert percentile_ci(samples) == pytest.approx((1.975, 39.025))
    assert percentile_ci(np.array([1.0, np.nan])) is None


def test_auc_bootstrap_ci_equals_an_independent_95_percent_recomputation():
    rng = np.random.default_rng(5)
    y = (rng.random(60) < 0.4).astype(float)
    s = y * 0.8 + rng.normal(size=60)
    macro, _, ci = auc_with_ci(y[:, None], s[:, None], n_bootstrap=300, seed=11)
    idx = np.random.default_rng(11).integers(0, 60, size=(300, 60))  # the documented resampling
    aucs = [roc_auc_score(y[i], s[i]) for i in idx if 0 < y[i].sum() < 60]
    expected = np.percentile(aucs, [2.5, 97.5])
    assert macro == pytest.approx(roc_auc_score(y, s))
    assert ci == pytest.approx(tuple(expected), abs=1e-12)
    narrower = np.percentile(aucs, [5, 95])  # the 90 % interval must NOT be what is reported
    assert ci[0] < narrower[0] and ci[1] > narrower[1]


def test_dice_bootstrap_ci_is_95_percent():
    rng = np.random.default_rng(2)
    truth = (rng.random((30, 6, 6)) < 0.3).astype(np.uint8)
    pred = np.where(rng.random(truth.shape) < 0.8, truth, 1 - truth).astype(np.uint8)
    dataset = next(m for m in segmentation_metrics(truth, pred, n_bootstrap=200, seed=4) if m.name == "dice_dataset")
    idx = np.random.default_rng(4).integers(0, 30, size=(200, 30))
    inter = (truth & pred).reshape(30, -1).sum(1).astype(float)
    size = truth.reshape(30, -1).sum(1) + pred.reshape(30, -1).sum(1)
    draws = [2 * inter[i].sum() / size[i].sum() for i in idx]
    assert dataset.ci95 == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])), abs=1e-12)


def test_delong_ci_uses_the_95_percent_normal_quantile_by_hand():
    # positives 0.9, 0.4; negatives 0.6, 0.1 (hand-computed in test_stats): AUC_A 0.75, Var_A 0.125; B perfect.
    y = np.array([1, 1, 0, 0.0])
    test = delong_test(y, np.array([0.9, 0.4, 0.6, 0.1]), np.array([0.9, 0.8, 0.6, 0.1]))
    se = np.sqrt(0.125)
    assert test.ci95 == pytest.approx((-0.25 - 1.959963984540054 * se, -0.25 + 1.959963984540054 * se), abs=1e-12)
    assert test.ci95[0] == pytest.approx(-0.942952, abs=1e-6)  # -0.25 - 1.959964 * 0.353553 (1.645 would give -0.8316)


def test_iou_tie_is_a_match_coco_rule():
    gt = [[0.0, 0.0, 10.0, 10.0]]
    half = [[0.0, 0.0, 10.0, 5.0]]  # IoU exactly 50 / 100 = 0.5
    tp = match_detections(ImageDetections.of(gt, half, [0.9]), [0.45, 0.5, 0.55])
    assert tp.tolist() == [[True, True, False]]
    assert mean_ap([ImageDetections.of(gt, half, [0.9])], (0.5,)) == 1.0
    assert mean_ap([ImageDetections.of(gt, [[0.0, 0.0, 10.0, 4.5]], [0.9])], (0.45,)) == 1.0  # 45 / 100 == 0.45


def test_greedy_matching_takes_the_highest_score_first_and_each_truth_once():
    gt = [[0.0, 0.0, 10.0, 10.0]]
    boxes = [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]]
    tp = match_detections(ImageDetections.of(gt, boxes, [0.3, 0.8]), [0.5])
    assert tp[:, 0].tolist() == [False, True]  # the 0.8 box takes the truth; the duplicate is a false positive
    # AP by hand: pooled order 0.8 (TP, P=1, R=1), 0.3 (FP): envelope 1 at every recall point → AP = 1
    assert mean_ap([ImageDetections.of(gt, boxes, [0.3, 0.8])], (0.5,)) == 1.0


def _random_images(rng, n: int = 25) -> list[ImageDetections]:
    images = []
    for _ in range(n):
        def boxes(k):
            xy = rng.uniform(0, 80, size=(k, 2))
            wh = rng.uniform(8, 40, size=(k, 2))
            return np.concatenate([xy, xy + wh], axis=1)

        gt = boxes(int(rng.integers(0, 3)))
        near = (gt[rng.integers(0, len(gt), size=int(rng.integers(0, 4)))] + rng.normal(0, 4, size=(1, 4)) if len(gt)
                else np.zeros((0, 4)))
        pred = np.concatenate([near, boxes(int(rng.integers(0, 3)))])
        images.append(ImageDetections.of(gt, pred, rng.random(len(pred))))
    return images


def _coco_ap(images: list[ImageDetections], thresholds) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    anns, dets = [], []
    for i, im in enumerate(images):
        for b in im.gt:  # ids from 1 (pycocotools treats a matched id 0 as unmatched)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "bbox": xywh(b),
                         "area": float((b[2] - b[0]) * (b[3] - b[1])), "iscrowd": 0})
        dets += [{"image_id": i, "category_id": 1, "bbox": xywh(b), "score": float(s)}
                 for b, s in zip(im.boxes, im.scores)]
    gt = COCO()
    gt.dataset = {"images": [{"id": i} for i in range(len(images))], "annotations": anns, "categories": [{"id": 1}]}
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.params.iouThrs = np.array(thresholds, dtype=float)
    ev.params.maxDets = [100]
    ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval["precision"][:, :, 0, 0, 0]  # [T, 101]
    return float(np.mean(precision))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_matches_pycocotools_on_random_boxes(seed, capsys):
    """COCO's AP (one class, maxDets 100 ≥ our boxes per image, area 'all') is our all-images mAP."""
    pytest.importorskip("pycocotools")
    images = _random_images(np.random.default_rng(seed))
    assert sum(len(im.gt) for im in images) > 5 and sum(len(im.scores) for im in images) > 10
    for thresholds in ((0.5,), IOU_40_75):
        coco = _coco_ap(images, thresholds)
        capsys.readouterr()  # pycocotools prints progress
        assert mean_ap(images, thresholds) == pytest.approx(coco, abs=1e-9), thresholds
    metrics = {m.name: m.value for m in detection_metrics(images, n_bootstrap=0)}
    assert metrics["map_50"] == pytest.approx(_coco_ap(images, (0.5,)), abs=1e-9)
    assert metrics["map_40_75"] == pytest.approx(_coco_ap(images, IOU_40_75), abs=1e-9)
