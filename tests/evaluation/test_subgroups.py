"""Subgroup metrics: groups, the too-small rule, the gap and its p-value (synthetic images with and without a gap)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecamp_bench.data.synth.case import HardFinding, make_case
from ecamp_bench.evaluation.subgroups import (
    MIN_POSITIVES,
    group_masks,
    normalise_age,
    normalise_sex,
    subgroup_metrics,
    subgroup_values,
)


def test_normalise_sex_and_age_across_data_sets():
    assert [normalise_sex(v) for v in ("F", "Female", "male", "M", "Unknown", None, "")] == [
        "F",
        "F",
        "M",
        "M",
        "",
        "",
        "",
    ]
    assert normalise_age("058Y") == 58.0 and normalise_age(61) == 61.0 and normalise_age("72.0") == 72.0
    assert math.isnan(normalise_age("")) and math.isnan(normalise_age(None)) and math.isnan(normalise_age("400"))


def test_age_bands_are_half_open():
    masks = group_masks({"demo_age": np.array([39.9, 40, 59, 60, 80, np.nan])}, 6)["age"]
    assert [int(np.flatnonzero(masks[b])[0]) if masks[b].any() else None for b in ("<40", "40-60", "60-80", "80+")] == [
        0,
        1,
        3,
        4,
    ]
    assert masks["40-60"].tolist() == [False, True, True, False, False, False]
    assert not any(m[5] for m in masks.values())  # unknown age is in no band


def _two_groups(pos_f: int, pos_m: int, n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.zeros((2 * n, 1))
    y[:pos_f, 0] = 1
    y[n : n + pos_m, 0] = 1
    scores = rng.random((2 * n, 1)) + 0.5 * y  # informative in both groups
    sex = np.array(["F"] * n + ["M"] * n)
    return y, scores, sex


def test_subgroup_with_fewer_than_20_positives_is_too_small_never_a_number():
    y, s, sex = _two_groups(MIN_POSITIVES - 1, MIN_POSITIVES)
    metrics = {m.name: m for m in subgroup_metrics("auc", y, s, ("x",), {"demo_sex": sex}, n_bootstrap=50)}
    assert metrics["auc[sex=F]"].value is None and metrics["auc[sex=F]"].ci95 is None
    assert metrics["auc[sex=M]"].value is not None and metrics["auc[sex=M]"].ci95 is not None
    assert metrics["auc_gap[sex]"].value is None and metrics["auc_gap_p[sex]"].value is None  # one scored group: no gap


def test_multi_label_rule_needs_every_label():
    y, s, sex = _two_groups(30, 30)
    y2 = np.concatenate([y, y], axis=1)
    y2[:200, 1] = 0
    y2[:10, 1] = 1  # label 2 has 10 positives among F
    s2 = np.concatenate([s, s], axis=1)
    values = {m.name: m.value for m in subgroup_metrics("auc", y2, s2, ("a", "b"), {"demo_sex": sex}, n_bootstrap=0)}
    assert values["auc[sex=F]"] is None and values["auc[sex=M]"] is not None


def test_gap_is_max_minus_min_and_value_fn_agrees():
    from ecamp_bench.evaluation.context import Predictions

    y, s, sex = _two_groups(60, 60)
    s[200:] = s[200:] + 0.5 * y[200:]  # men's scores separate better
    metrics = {m.name: m for m in subgroup_metrics("auc", y, s, ("x",), {"demo_sex": sex}, n_bootstrap=200)}
    assert metrics["auc_gap[sex]"].value == pytest.approx(metrics["auc[sex=M]"].value - metrics["auc[sex=F]"].value)
    assert metrics["auc_gap[sex]"].higher_is_better is False
    preds = Predictions(
        tuple(map(str, range(400))), y, s, ("x",), {"demo_sex": sex, "subgroup_metric": np.array(["auc"])}
    )
    assert subgroup_values(preds)["auc_gap[sex]"] == pytest.approx(metrics["auc_gap[sex]"].value)


def _probe(hard: HardFinding | None, n: int = 1600, size: int = 64, grid: int = 8, conspicuity: float = 3.0):
    """Effusion on synthetic probe cases drawn at ``conspicuity``: pixels pooled to ``grid`` × ``grid``, logistic
    regression fit on half, scored on the rest."""
    from sklearn.linear_model import LogisticRegression

    x, y, sex = [], [], []
    for i in range(n):
        case = make_case(0, "probe", i, size, hard=hard, conspicuity=conspicuity)
        pooled = case.frontal.astype(np.float32).reshape(grid, size // grid, grid, size // grid).mean((1, 3))
        x.append(pooled.ravel() / 255)
        y.append(float(any(f.kind == "effusion" for f in case.findings)))
        sex.append(case.sex[0])
    x, y, sex = np.array(x), np.array(y), np.array(sex)
    half = n // 2
    scores = LogisticRegression(max_iter=2000).fit(x[:half], y[:half]).predict_proba(x[half:])[:, 1:]
    metrics = subgroup_metrics("auc", y[half:, None], scores, ("Effusion",), {"demo_sex": sex[half:]}, n_bootstrap=1000)
    return {m.name: m.value for m in metrics}


@pytest.mark.slow
def test_hard_finding_makes_a_significant_sex_gap_on_top_of_the_world_s_own():
    # Generator version 3 draws breast shadows over the lung bases, so even without the knob a pixel probe sees
    # effusion less well in women. The probe is a linear model on 8x8 pixels, which the default world defeats, so
    # the findings are drawn at conspicuity 3 (measured: F 0.652, M 0.725, gap p 0.08). The knob must widen that
    # gap by lowering the women's AUC on the same cases (measured: F 0.505, M 0.706, gap p 0.001; ~15 CPU s).
    hard = _probe(HardFinding("effusion", "Female", 0.2))
    plain = _probe(None)
    assert hard["auc[sex=F]"] < hard["auc[sex=M]"] - 0.1, hard
    assert hard["auc_gap_p[sex]"] < 0.05, hard
    assert hard["auc[sex=F]"] < plain["auc[sex=F]"] - 0.03, (hard, plain)
    assert plain["auc_gap[sex]"] < hard["auc_gap[sex]"], (hard, plain)


def test_hard_finding_is_off_by_default_and_leaves_other_cases_unchanged():
    plain = make_case(3, "chexpert", 5, 48)
    again = make_case(3, "chexpert", 5, 48, hard=None)
    assert np.array_equal(plain.frontal, again.frontal) and (plain.sex, plain.age) == (again.sex, again.age)
    knob = HardFinding("effusion", "Male", 0.0)
    for i in range(40):  # a Female case, or one without effusion, is drawn exactly as with the knob off
        case = make_case(0, "probe", i, 48, hard=knob)
        if case.sex == "Female" or not any(f.kind == "effusion" for f in case.findings):
            assert np.array_equal(case.frontal, make_case(0, "probe", i, 48).frontal)
    with pytest.raises(ValueError, match="contrast"):
        HardFinding("effusion", "Female", 1.5)
    assert HardFinding.parse("edema:Male:0.5") == HardFinding("edema", "Male", 0.5)
