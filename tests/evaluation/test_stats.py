"""DeLong's test against a direct O(m·n) implementation and a hand-computed case; the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from ecamp_bench.errors import DataError
from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.stats import (
    align_predictions, compare_auc, delong_covariance, delong_test, paired_bootstrap, paired_bootstrap_macro_auc,
)


def slow_delong(targets, scores):
    """DeLong's covariance from the definition: the m × n kernel ψ, structural components, sample covariances."""
    pos = targets > 0.5
    aucs, v10s, v01s = [], [], []
    for s in scores:
        x, y = s[pos], s[~pos]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])  # [m, n]
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = pos.sum(), (~pos).sum()
    v10, v01 = np.array(v10s), np.array(v01s)
    s10 = (v10 - v10.mean(1, keepdims=True)) @ (v10 - v10.mean(1, keepdims=True)).T / (m - 1)
    s01 = (v01 - v01.mean(1, keepdims=True)) @ (v01 - v01.mean(1, keepdims=True)).T / (n - 1)
    return np.array(aucs), s10 / m + s01 / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_delong_matches_definition_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 150).astype(float)
    a = np.round(y * 0.8 + rng.normal(size=150), 1)  # rounding makes ties
    b = np.round(y * 0.3 + rng.normal(size=150), 1)
    c = np.round(0.5 * a + rng.normal(size=150), 1)
    fast_auc, fast_cov = delong_covariance(y, np.stack([a, b, c]))
    slow_auc, slow_cov = slow_delong(y, np.stack([a, b, c]))
    np.testing.assert_allclose(fast_auc, slow_auc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast_auc, [roc_auc_score(y, s) for s in (a, b, c)], atol=1e-12)
    np.testing.assert_allclose(fast_cov, slow_cov, rtol=1e-10, atol=1e-14)
    test = delong_test(y, a, b)
    z = (slow_auc[0] - slow_auc[1]) / np.sqrt(slow_cov[0, 0] + slow_cov[1, 1] - 2 * slow_cov[0, 1])
    assert test.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert test.difference == pytest.approx(slow_auc[0] - slow_auc[1])


def test_delong_hand_computed_case():
    # positives score 0.9, 0.4; negatives 0.6, 0.1 → ψ = [[1, 1], [0, 1]]: AUC 3/4,
    # V10 = [1, 0.5] (var 0.125), V01 = [0.5, 1] (var 0.125) → Var(AUC) = 0.125/2 + 0.125/2 = 0.125.
    y = np.array([1, 1, 0, 0.0])
    a = np.array([0.9, 0.4, 0.6, 0.1])
    b = np.array([0.9, 0.8, 0.6, 0.1])  # perfect: AUC 1, all components 1 → variance 0, covariance 0
    aucs, cov = delong_covariance(y, np.stack([a, b]))
    np.testing.assert_allclose(aucs, [0.75, 1.0])
    np.testing.assert_allclose(cov, [[0.125, 0.0], [0.0, 0.0]], atol=1e-15)
    test = delong_test(y, a, b)
    assert test.difference == pytest.approx(-0.25)
    assert test.p_value == pytest.approx(2 * norm.sf(0.25 / np.sqrt(0.125)))


def test_delong_identical_models_and_clear_winner():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400).astype(float)
    good = y + rng.normal(scale=0.5, size=400)
    noise = rng.normal(size=400)
    same = delong_test(y, good, good)
    assert same.difference == 0 and same.p_value == 1.0
    clear = delong_test(y, good, noise)
    assert clear.difference > 0.3 and clear.p_value < 1e-6 and clear.significant()


def test_delong_needs_both_classes():
    with pytest.raises(DataError, match="2 positives"):
        delong_test(np.array([1, 0, 0, 0.0]), np.arange(4.0), np.arange(4.0))


def preds(ids, targets, scores, labels=("x",)):
    return Predictions(tuple(ids), np.asarray(targets, float).reshape(len(ids), -1),
                       np.asarray(scores, float).reshape(len(ids), -1), labels)


def accuracy(p: Predictions) -> float:
    return float(((p.scores[:, 0] > 0.5) == (p.targets[:, 0] > 0.5)).mean())


def test_paired_bootstrap_identical_and_clearly_better():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    ids = [f"i{k}" for k in range(300)]
    good = preds(ids, y, np.where(rng.random(300) < 0.9, y, 1 - y))  # ~90% accurate
    bad = preds(ids, y, np.where(rng.random(300) < 0.55, y, 1 - y))  # ~55%
    same = paired_bootstrap(accuracy, good, good, n_bootstrap=200)
    assert same.difference == 0 and same.p_value == 1.0 and same.ci95 == (0.0, 0.0)
    better = paired_bootstrap(accuracy, good, bad, n_bootstrap=200, seed=1)
    assert better.difference == pytest.approx(accuracy(good) - accuracy(bad))
    assert better.p_value == pytest.approx(2 / 201) and better.ci95[0] > 0.2
    worse = paired_bootstrap(accuracy, bad, good, n_bootstrap=200, seed=1)
    assert worse.p_value == better.p_value and worse.ci95[1] < -0.2


def test_macro_auc_bootstrap_matches_generic_bootstrap():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, (120, 3))
    ids = [str(k) for k in range(120)]
    a = preds(ids, y, y + rng.normal(size=(120, 3)), ("p", "q", "r"))
    b = preds(ids, y, y * 0.5 + rng.normal(size=(120, 3)), ("p", "q", "r"))
    fast = paired_bootstrap_macro_auc(a, b, n_bootstrap=150, seed=4, chunk=40)

    def macro(p):
        return float(np.mean([roc_auc_score(p.targets[:, c], p.scores[:, c]) for c in range(3)]))

    slow = paired_bootstrap(macro, a, b, n_bootstrap=150, seed=4)
    assert fast.difference == pytest.approx(slow.difference)
    assert fast.p_value == pytest.approx(slow.p_value) and np.allclose(fast.ci95, slow.ci95)
    tests = compare_auc(a, b, n_bootstrap=150, seed=4)
    assert [t.metric for t in tests] == ["auc", "auc/p", "auc/q", "auc/r"]
    assert tests[0].test.startswith("paired bootstrap") and all(t.test == "DeLong" for t in tests[1:])


def test_align_reorders_by_id_and_rejects_different_test_sets():
    a = preds(["a", "b", "c"], [1, 0, 1], [0.9, 0.2, 0.7])
    b = preds(["c", "a", "b"], [1, 1, 0], [0.1, 0.2, 0.3])
    _, aligned = align_predictions(a, b)
    assert aligned.ids == ("a", "b", "c") and list(aligned.scores[:, 0]) == [0.2, 0.3, 0.1]
    with pytest.raises(DataError, match="A has 3 images, B has 2, 2 in common"):
        align_predictions(a, preds(["a", "b"], [1, 0], [0.1, 0.2]))
    with pytest.raises(DataError, match="targets differ on 1 image"):
        align_predictions(a, preds(["a", "b", "c"], [1, 1, 1], [0.1, 0.2, 0.3]))


def test_subset_resamples_ragged_detection_extras_per_image():
    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.evaluation.det_metrics import images_from_predictions
    from ecamp_bench.evaluation.stats import subset

    # image a: 1 true box, 2 predictions; image b: none, 1 prediction; image c: 2 true boxes, none predicted
    extras = {
        "gt_boxes": np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], dtype=np.float32),
        "gt_offsets": np.array([0, 1, 1, 3]),
        "pred_boxes": np.array([[0, 0, 1, 1], [9, 9, 10, 10], [6, 6, 7, 7]], dtype=np.float32),
        "pred_scores": np.array([0.9, 0.2, 0.7], dtype=np.float32),
        "pred_offsets": np.array([0, 2, 3, 3]),
    }
    full = Predictions(("a", "b", "c"), np.array([[1.0], [0.0], [1.0]]), np.array([[0.9], [0.7], [0.0]]), extras=extras)
    picked = subset(full, np.array([2, 0, 2]))
    assert picked.ids == ("c", "a", "c")
    original = images_from_predictions(full)
    resampled = images_from_predictions(picked)
    for got, want in zip(resampled, [original[2], original[0], original[2]]):
        assert np.array_equal(got.gt, want.gt) and np.array_equal(got.boxes, want.boxes)
        assert np.array_equal(got.scores, want.scores)


def test_align_keeps_detection_extras_when_it_reorders():
    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.evaluation.det_metrics import images_from_predictions

    extras = {
        "gt_boxes": np.array([[0, 0, 1, 1], [2, 2, 3, 3]], dtype=np.float32),
        "gt_offsets": np.array([0, 1, 2]),
        "pred_boxes": np.array([[0, 0, 1, 1]], dtype=np.float32),
        "pred_scores": np.array([0.9], dtype=np.float32),
        "pred_offsets": np.array([0, 1, 1]),
    }
    a = Predictions(("x", "y"), np.array([[1.0], [1.0]]), np.array([[0.9], [0.0]]), extras=extras)
    swapped = {
        "gt_boxes": extras["gt_boxes"][::-1].copy(), "gt_offsets": np.array([0, 1, 2]),
        "pred_boxes": extras["pred_boxes"], "pred_scores": extras["pred_scores"], "pred_offsets": np.array([0, 0, 1]),
    }
    b = Predictions(("y", "x"), np.array([[1.0], [1.0]]), np.array([[0.0], [0.9]]), extras=swapped)
    _, aligned = align_predictions(a, b)
    for got, want in zip(images_from_predictions(aligned), images_from_predictions(a)):
        assert np.array_equal(got.gt, want.gt) and np.array_equal(got.boxes, want.boxes)
