"""The three Dice conventions of siim-seg against hand-computed values (incl. empty masks), and their CIs."""

from __future__ import annotations

import numpy as np
import pytest

from ecamp_bench.evaluation.seg_metrics import dice_counts, segmentation_metrics


def _mask(cells: list[tuple[int, int]], size: int = 4) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    for y, x in cells:
        mask[y, x] = 1
    return mask


@pytest.fixture
def four_images():
    """Image 0: T 4 px, P 2 px inside T (Dice 2·2/6). Image 1: T empty, P empty (1). Image 2: T empty, P 1 px (0).
    Image 3: T 2 px, P 2 px, 1 shared (2·1/4)."""
    t = [_mask([(0, 0), (0, 1), (1, 0), (1, 1)]), _mask([]), _mask([]), _mask([(3, 2), (3, 3)])]
    p = [_mask([(0, 0), (0, 1)]), _mask([]), _mask([(2, 2)]), _mask([(3, 3), (2, 3)])]
    return np.stack(t), np.stack(p)


def test_three_dice_conventions_match_hand_computed_values(four_images):
    targets, predictions = four_images
    metrics = {m.name: m for m in segmentation_metrics(targets, predictions, n_bootstrap=0)}
    per_image = [4 / 6, 1.0, 0.0, 0.5]
    assert metrics["dice_per_image"].value == pytest.approx(np.mean(per_image))
    # summed: |P∩T| = 2 + 0 + 0 + 1 = 3, |P| = 2 + 0 + 1 + 2 = 5, |T| = 4 + 0 + 0 + 2 = 6
    assert metrics["dice_dataset"].value == pytest.approx(2 * 3 / 11)
    assert metrics["dice_positive"].value == pytest.approx((4 / 6 + 0.5) / 2)
    assert metrics["dice_positive"].n == 2 and metrics["dice_per_image"].n == 4
    assert [m.name for m in segmentation_metrics(targets, predictions, n_bootstrap=0)][0] == "dice_per_image"


def test_empty_everywhere_and_probability_inputs():
    empty = np.zeros((3, 4, 4), dtype=np.uint8)
    metrics = {m.name: m.value for m in segmentation_metrics(empty, empty, n_bootstrap=50)}
    assert metrics == {"dice_per_image": 1.0, "dice_dataset": None, "dice_positive": None}
    # non-empty prediction on an empty truth: Kaggle convention gives 0
    probs = np.zeros((1, 4, 4), dtype=np.float32)
    probs[0, 0, 0] = 0.7  # > 0.5 → predicted
    probs[0, 1, 1] = 0.5  # not > 0.5
    counts = dice_counts(np.zeros((1, 4, 4), np.uint8), probs)
    assert counts.predicted.tolist() == [1.0]
    assert segmentation_metrics(np.zeros((1, 4, 4), np.uint8), probs, n_bootstrap=0)[0].value == 0.0


def test_bootstrap_ci_contains_point_and_is_seeded(four_images):
    targets, predictions = four_images
    targets, predictions = np.tile(targets, (10, 1, 1)), np.tile(predictions, (10, 1, 1))
    first = segmentation_metrics(targets, predictions, n_bootstrap=300, seed=3)
    again = segmentation_metrics(targets, predictions, n_bootstrap=300, seed=3)
    for m, m2 in zip(first, again):
        lo, hi = m.ci95
        assert lo <= m.value <= hi and lo < hi
        assert m.ci95 == m2.ci95
