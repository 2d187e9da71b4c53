"""Detection metrics against hand-built cases (no OpenMMLab needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.det_metrics import (
    IOU_40_75, ImageDetections, box_iou, detection_metrics, images_from_predictions, kaggle_per_image,
    match_detections, mean_ap, mgca_subset,
)
from ecamp_bench.evaluation.predictions import load_predictions, save_predictions

BOX = [10.0, 10.0, 30.0, 30.0]  # 20 x 20


def shifted(box, dx):
    """``box`` moved right by ``dx`` pixels (IoU with the original: (20 - dx) / (20 + dx) for 20-px boxes)."""
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


def im(gt=(), boxes=(), scores=()):
    return ImageDetections.of(list(gt), list(boxes), list(scores))


def by_name(metrics):
    return {m.name: m for m in metrics}


def test_box_iou_hand_values():
    iou = box_iou(np.array([BOX]), np.array([BOX, shifted(BOX, 10), [100, 100, 110, 110], [5, 5, 5, 9]]))
    np.testing.assert_allclose(iou[0], [1.0, 200 / 600, 0.0, 0.0])


def test_perfect_predictions_score_one():
    images = [im([BOX], [BOX], [0.9]), im([BOX, [50, 50, 60, 70]], [[50, 50, 60, 70], BOX], [0.8, 0.7]), im()]
    m = by_name(detection_metrics(images, n_bootstrap=50))
    for name in ("map_40_75", "map_40_75_mgca", "map_50", "kaggle_rsna"):
        assert m[name].value == pytest.approx(1.0), name
    assert m["kaggle_rsna"].n == 2  # the empty/empty image is excluded from the Kaggle mean


def test_shifted_box_counts_only_at_thresholds_it_reaches():
    # dx = 4: IoU = 16 / 24 = 0.667 → TP at 0.40..0.65 (6 of 8 thresholds), FP+FN at 0.70 and 0.75.
    images = [im([BOX], [shifted(BOX, 4)], [0.9])]
    assert mean_ap(images) == pytest.approx(6 / 8)
    assert mean_ap(images, (0.5,)) == pytest.approx(1.0)
    assert kaggle_per_image(images)[0] == pytest.approx((6 * 1.0 + 2 * 0.0) / 8)
    assert match_detections(images[0], IOU_40_75).tolist() == [[True] * 6 + [False] * 2]


def test_missing_box_is_a_miss_and_halves_recall():
    # Two positives, one found: precision 1 up to recall 0.5, so 101-point AP = 51/101.
    images = [im([BOX], [BOX], [0.9]), im([BOX])]
    assert mean_ap(images) == pytest.approx(51 / 101)
    m = by_name(detection_metrics(images, n_bootstrap=0))
    assert m["map_40_75_mgca"].value == pytest.approx(1.0) and m["map_40_75_mgca"].n == 1  # MGCA skips the miss
    assert m["kaggle_rsna"].value == pytest.approx(0.5)  # 1 and 0 (TP/(TP+FP+FN) = 0/1)


def test_extra_box_and_negative_false_positives_lower_precision():
    # Ranked: TP (0.9), FP on a negative (0.8), TP (0.7): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
    images = [im([BOX], [BOX], [0.9]), im([], [BOX], [0.8]), im([[50, 50, 70, 70]], [[50, 50, 70, 70]], [0.7])]
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    assert mean_ap(images) == pytest.approx(expected)
    m = by_name(detection_metrics(images, n_bootstrap=0))
    assert m["map_40_75_mgca"].value == pytest.approx(1.0)  # the negative's false positive is invisible to MGCA
    assert m["kaggle_rsna"].value == pytest.approx((1 + 0 + 1) / 3)  # the negative with a prediction scores 0
    # An extra low-scored box on a positive image: Kaggle 1/(1+1) there; AP unchanged (ranked after all TPs).
    extra = [im([BOX], [BOX, [60, 60, 80, 80]], [0.9, 0.1])]
    assert kaggle_per_image(extra)[0] == pytest.approx(0.5)
    assert mean_ap(extra) == pytest.approx(1.0)


def test_duplicate_detection_is_a_false_positive():
    images = [im([BOX], [BOX, BOX], [0.9, 0.8])]
    assert match_detections(images[0], (0.5,)).ravel().tolist() == [True, False]
    assert kaggle_per_image(images)[0] == pytest.approx(0.5)


def test_empty_cases():
    assert mean_ap([]) is None
    assert mean_ap([im(), im([], [BOX], [0.5])]) is None  # no true box anywhere: AP undefined
    assert mean_ap([im([BOX])]) == 0.0  # truth but no prediction
    m = by_name(detection_metrics([im(), im()], n_bootstrap=20))
    assert m["map_40_75"].value is None and m["kaggle_rsna"].value is None and m["map_40_75_mgca"].n == 0
    assert mgca_subset([im([BOX]), im([BOX], [BOX], [1.0]), im([], [BOX], [1.0])]) == [1]


def test_bootstrap_ci_brackets_the_estimate_and_narrows():
    rng = np.random.default_rng(0)

    def images(n):
        out = []
        for _ in range(n):
            dx = float(rng.integers(0, 8))
            found = rng.random() < 0.7
            out.append(im([BOX], [shifted(BOX, dx)] if found else [], [rng.random()] if found else []))
            false_positive = rng.random() < 0.3
            out.append(im([], [BOX] if false_positive else [], [rng.random() * 0.5] if false_positive else []))
        return out

    small = by_name(detection_metrics(images(20), n_bootstrap=300))
    large = by_name(detection_metrics(images(400), n_bootstrap=300))
    for name in ("map_40_75", "map_50", "map_40_75_mgca", "kaggle_rsna"):
        lo, hi = small[name].ci95
        assert lo <= small[name].value <= hi, name
        assert large[name].ci95[1] - large[name].ci95[0] < hi - lo, name


def test_bootstrap_replicate_equals_direct_computation_on_that_resample():
    from ecamp_bench.evaluation.det_metrics import _bootstrap_map

    images = [im([BOX], [shifted(BOX, 3)], [0.9]), im([], [BOX], [0.8]), im([BOX]), im([BOX], [BOX], [0.2])]
    idx = np.array([[0, 0, 1, 3], [2, 1, 1, 1], [3, 3, 0, 2]])
    direct = [mean_ap([images[i] for i in row]) for row in idx]
    np.testing.assert_allclose(_bootstrap_map(images, IOU_40_75, idx), direct)


def test_detection_predictions_round_trip_through_npz(tmp_path):
    extras = {
        "pred_boxes": np.array([BOX, shifted(BOX, 2), BOX], dtype=np.float32),
        "pred_scores": np.array([0.9, 0.6, 0.7], dtype=np.float32),
        "pred_offsets": np.array([0, 2, 2, 3]),
        "gt_boxes": np.array([BOX, BOX], dtype=np.float32),
        "gt_offsets": np.array([0, 1, 1, 2]),
    }
    targets, scores = np.array([[1.0], [0.0], [1.0]]), np.array([[0.9], [0.0], [0.7]])
    predictions = Predictions(("a", "b", "c"), targets, scores, ("Pneumonia",), extras)
    loaded = load_predictions(save_predictions(predictions, tmp_path / "p.npz"))
    before, after = images_from_predictions(predictions), images_from_predictions(loaded)
    assert [len(x.scores) for x in after] == [2, 0, 1] and [len(x.gt) for x in after] == [1, 0, 1]
    for x, y in zip(before, after):
        np.testing.assert_allclose(x.boxes, y.boxes)
        np.testing.assert_allclose(x.gt, y.gt)
    assert mean_ap(after) == pytest.approx(mean_ap(before))
