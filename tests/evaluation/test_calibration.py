"""ECE (15 equal-mass bins) and Brier score: hand-computed cases, CIs, logits, the reliability diagram."""

from __future__ import annotations

import numpy as np
import pytest

from ecamp_bench.evaluation.calibration import N_BINS, calibration_metrics, ece_rows, write_reliability_diagram
from ecamp_bench.evaluation.context import Predictions


def test_constant_overconfident_scores():
    y = np.zeros((30, 1))
    p = np.full((30, 1), 0.9)
    values = {m.name: m.value for m in calibration_metrics(y, p, ("x",), n_bootstrap=0)}
    assert values["ece"] == pytest.approx(0.9) and values["brier"] == pytest.approx(0.81)


def test_equal_mass_bins_by_hand():
    # 30 images, 15 bins of 2 (sorted by score): bin k holds scores 2k and 2k+1 of the sorted order
    p = np.linspace(0.01, 0.99, 30)
    y = (np.arange(30) % 2 == 0).astype(float)  # one positive per bin
    expected = sum(abs(0.5 - p[2 * k : 2 * k + 2].mean()) * 2 / 30 for k in range(N_BINS))
    assert float(ece_rows(y, p)) == pytest.approx(expected)


def test_calibrated_scores_have_small_ece_and_per_label_keys():
    rng = np.random.default_rng(0)
    p = rng.random((4000, 2))
    y = (rng.random((4000, 2)) < p).astype(float)
    metrics = {m.name: m for m in calibration_metrics(y, p, ("a", "b"), n_bootstrap=100)}
    assert set(metrics) == {"ece", "brier", "ece/a", "ece/b", "brier/a", "brier/b"}
    assert metrics["ece"].value < 0.03 and metrics["ece"].higher_is_better is False
    assert metrics["brier"].value == pytest.approx(np.mean((p - y) ** 2))
    lo, hi = metrics["brier"].ci95
    assert lo < metrics["brier"].value < hi


def test_logits_give_no_calibration_and_no_diagram(tmp_path):
    y = np.array([[0.0], [1.0]])
    s = np.array([[-2.0], [3.0]])
    assert all(m.value is None for m in calibration_metrics(y, s, ("x",), n_bootstrap=10))
    assert write_reliability_diagram(Predictions(("a", "b"), y, s, ("x",)), tmp_path / "r.png") is None


def test_reliability_diagram_is_a_png(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.random((200, 2))
    y = (rng.random((200, 2)) < p).astype(float)
    path = write_reliability_diagram(
        Predictions(tuple(map(str, range(200))), y, p, ("a", "b")), tmp_path / "r.png", "t"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ece_interval_is_bias_shifted_and_holds_the_estimate():
    rng = np.random.default_rng(3)
    p = rng.random((300, 1))
    y = (rng.random((300, 1)) < p).astype(float)
    ece = next(m for m in calibration_metrics(y, p, ("x",), n_bootstrap=300) if m.name == "ece")
    lo, hi = ece.ci95
    assert lo < ece.value < hi
    assert abs((lo + hi) / 2 - ece.value) < (hi - lo) / 4  # a plain percentile interval sits well above the estimate
