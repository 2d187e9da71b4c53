"""The typed run path: a plan is built once (layouts read once per cache), carries the fraction to the
protocol, and the task — not the protocol — attaches the ground truth it scores against."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ecamp_bench.evaluation.context import Predictions, attach_truth
from ecamp_bench.evaluation.runner import RunPlan, RunRequest, TableCache, prepare_run
from ecamp_bench.plugins import get_catalog


def test_plans_share_one_layout_read_and_are_frozen(synthetic_tiny, monkeypatch):
    catalog = get_catalog()
    layout = catalog.layout("rsna-pneumonia")
    reads = []
    original = layout.read
    patched = dataclasses.replace(layout, read=lambda root: reads.append(root) or original(root))
    monkeypatch.setattr(type(catalog), "layout", lambda self, name: patched)
    cache = TableCache()
    plans = [prepare_run(RunRequest(task="rsna-cls", fraction=f, seed=s, backbone="random-init",
                                    data_root=synthetic_tiny, preset="tiny"), catalog, cache)
             for f in (0.1, 1.0) for s in (0, 1)]
    assert len(reads) == 1 and len({p.key for p in plans}) == 4
    assert isinstance(plans[0], RunPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plans[0].key = "x"  # type: ignore[misc]


def test_task_attaches_truth_and_rejects_misordered_predictions(synthetic_tiny):
    plan = prepare_run(RunRequest(task="rsna-cls", fraction=1.0, backbone="random-init", data_root=synthetic_tiny),
                       get_catalog())
    test = plan.split.test
    bare = Predictions(tuple(test.ids), None, np.zeros((len(test), 1), np.float32))
    scored = attach_truth(plan.impl, plan.task, test, bare)
    np.testing.assert_array_equal(scored.targets, plan.impl.targets(plan.task, test))
    assert scored.label_names == ("Pneumonia",)
    backwards = Predictions(tuple(reversed(test.ids)), None, np.zeros((len(test), 1), np.float32))
    with pytest.raises(ValueError, match="not the .* test images in order"):
        attach_truth(plan.impl, plan.task, test, backwards)


def test_detection_and_segmentation_truth_come_from_the_task(synthetic_tiny):
    catalog = get_catalog()
    det = prepare_run(RunRequest(task="rsna-det", fraction=1.0, backbone="random-init", data_root=synthetic_tiny),
                      catalog)
    test = det.split.test
    bare = Predictions(tuple(test.ids), None, np.zeros((len(test), 1), np.float32),
                       extras={"pred_boxes": np.zeros((0, 4), np.float32), "pred_scores": np.zeros(0, np.float32),
                               "pred_offsets": np.zeros(len(test) + 1, np.int64)})
    truth = attach_truth(det.impl, det.task, test, bare)
    n_boxes = sum(len(s.boxes) for s in test)
    assert truth.extras["gt_offsets"][-1] == n_boxes == len(truth.extras["gt_boxes"])
    assert truth.targets[:, 0].tolist() == [float(len(s.boxes) > 0) for s in test]

    seg = prepare_run(RunRequest(task="siim-seg", fraction=1.0, backbone="random-init", data_root=synthetic_tiny),
                      catalog)
    test = seg.split.test
    masks = attach_truth(seg.impl, seg.task, test,
                         Predictions(tuple(test.ids), None, np.zeros((len(test), 32, 32), np.uint8)))
    assert masks.targets.shape == (len(test), 32, 32) and masks.targets.dtype == np.uint8
    positive = [s.label("Pneumothorax") == 1.0 for s in test]
    assert [bool(m.any()) for m in masks.targets] == positive
