"""AUC against scikit-learn on known inputs, and bootstrap CI behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ecamp_bench.evaluation.metrics import auc_metrics, auc_with_ci, binary_auc, rank_auc


def test_binary_auc_on_a_hand_computed_case():
    # positives score 0.8, 0.4; negatives 0.5, 0.1 → pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) → 3/4
    assert binary_auc(np.array([1, 0, 1, 0]), np.array([0.8, 0.5, 0.4, 0.1])) == pytest.approx(0.75)
    assert binary_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_rank_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(20, 50))
    s = rng.integers(0, 5, size=(20, 50)).astype(float)  # many ties
    expected = [roc_auc_score(y[i], s[i]) for i in range(20)]
    assert np.allclose(rank_auc(y, s), expected)


def test_macro_and_per_label_auc_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=(200, 3)).astype(float)
    s = y * 0.5 + rng.random((200, 3))
    metrics = auc_metrics(y, s, ("a", "b", "c"), n_bootstrap=200, seed=0)
    assert [m.name for m in metrics] == ["auc", "auc/a", "auc/b", "auc/c"]
    assert metrics[0].value == pytest.approx(roc_auc_score(y, s, average="macro"))
    for c, m in enumerate(metrics[1:]):
        assert m.value == pytest.approx(roc_auc_score(y[:, c], s[:, c]))
    assert metrics[0].n == 200


def test_bootstrap_ci_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(2)

    def width(n):
        y = rng.integers(0, 2, size=(n, 1)).astype(float)
        s = y + rng.normal(0, 1.2, size=(n, 1))
        value, _, (lo, hi) = auc_with_ci(y, s, n_bootstrap=500, seed=3)
        assert lo <= value <= hi
        return hi - lo

    small, large = width(60), width(2000)
    assert large < small / 3  # ~ 1/sqrt(n): sqrt(2000/60) ≈ 5.8


def test_bootstrap_is_seeded_and_skips_single_class_resamples():
    y = np.array([[1.0]] + [[0.0]] * 9)
    s = np.linspace(1, 0, 10)[:, None]
    a = auc_with_ci(y, s, n_bootstrap=300, seed=5)
    b = auc_with_ci(y, s, n_bootstrap=300, seed=5)
    assert a[0] == 1.0 and a[2] == b[2] == (1.0, 1.0)
