"""Non-finite outputs never reach an ok record: every metric refuses NaN/±inf the same way; a NaN model fails."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecamp_bench.errors import NonFiniteError
from ecamp_bench.evaluation.calibration import calibration_metrics
from ecamp_bench.evaluation.det_metrics import ImageDetections, detection_metrics
from ecamp_bench.evaluation.metrics import auc_metrics, binary_auc, single_label_metrics
from ecamp_bench.evaluation.seg_metrics import dice_counts
from ecamp_bench.evaluation.stats import delong_test
from ecamp_bench.evaluation.subgroups import subgroup_metrics

TARGETS = np.array([0, 1, 0, 1, 1, 0], dtype=float)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_metric_refuses_non_finite_scores_with_the_count(bad):
    scores = np.array([0.1, 0.9, 0.2, bad, 0.7, 0.3])
    calls = {
        "binary auc": lambda: binary_auc(TARGETS, scores),
        "auc": lambda: auc_metrics(TARGETS[:, None], scores[:, None], ["x"], n_bootstrap=10),
        "accuracy": lambda: single_label_metrics(np.eye(2)[TARGETS.astype(int)], np.stack([1 - scores, scores], 1),
                                                 ["a", "b"], n_bootstrap=10),
        "dice": lambda: dice_counts(np.zeros((1, 2, 3)), scores.reshape(1, 2, 3)),
        "delong": lambda: delong_test(TARGETS, scores, np.linspace(0, 1, 6)),
        "map scores": lambda: detection_metrics([ImageDetections.of([[0, 0, 4, 4]], [[0, 0, 4, 4]], [bad])]),
        "map boxes": lambda: detection_metrics([ImageDetections.of([[0, 0, 4, 4]], [[0, 0, bad, 4]], [0.5])]),
        "ece/brier": lambda: calibration_metrics(TARGETS[:, None], scores[:, None], ["x"], n_bootstrap=10),
        "subgroups": lambda: subgroup_metrics("auc", TARGETS[:, None], scores[:, None], ["x"],
                                              {"demo_sex": np.array(list("FMFMFM"))}, n_bootstrap=10),
    }
    for name, call in calls.items():
        with pytest.raises(NonFiniteError, match=r"\b[12] of \d+ values are not finite"):
            call()
        assert name  # (the loop names the failing metric in pytest's traceback)


def test_nan_targets_still_mean_label_not_given():
    targets = np.array([0, 1, np.nan, 1, 0], dtype=float)
    assert binary_auc(targets, np.array([0.1, 0.9, 0.5, 0.8, 0.2])) == 1.0


@pytest.mark.slow
def test_a_nan_backbone_on_rsna_cls_fails_naming_backbone_task_and_count(synthetic_tiny, capsys):
    from _backbones import export_tiny_backbone

    from ecamp_bench.cli import main
    from ecamp_bench.paths import results_dir

    path = export_tiny_backbone("nan-vit", nan=True)
    rc = main(["eval", "--task", "rsna-cls", "--fraction", "1", "--backbone", f"file:{path}", "--data-root",
               str(synthetic_tiny), "--preset", "tiny", "--set", "eval.n_bootstrap=20"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "backbone 'file:nan-vit' on task 'rsna-cls'" in err and "values are not finite" in err
    assert "Traceback" not in err
    records = [json.loads(p.read_text()) for p in (results_dir() / "runs").rglob("*.json")]
    assert records and all(r["status"] != "ok" for r in records)
    assert not list((results_dir() / "runs").rglob("*.predictions.npz"))
