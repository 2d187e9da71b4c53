"""rsna-seg: RSNA boxes as masks (real RSNA files), negatives as empty masks, and exactly rsna-det's patients per
split."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import ecamp_bench  # noqa: F401
from _backbones import export_tiny_backbone
from ecamp_bench_plugins.layouts import rsna
from ecamp_bench.evaluation.context import Predictions, attach_truth
from ecamp_bench.evaluation.runner import RunRequest, prepare_run
from ecamp_bench.plugins import get_catalog
from ecamp_bench_plugins.tasks.rsna_seg import IMPLEMENTATION

REAL_RSNA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "rsna-pneumonia"


@pytest.mark.skipif(not REAL_RSNA.is_dir(), reason="the real RSNA files (tests/_realdata.py) are not on this machine")
def test_real_rsna_boxes_become_masks_of_their_union_and_negatives_empty():
    task = get_catalog().task("rsna-seg")
    table = IMPLEMENTATION.prepare(task, rsna.read(REAL_RSNA)).table
    positives = [s for s in table if s.boxes]
    # the official rows hold 5 patients with two boxes each and 11 negatives (realdata's README says 6 and 10)
    rows = list(csv.DictReader((REAL_RSNA / rsna.LABELS_FILE).read_text().splitlines()))
    boxes_per_patient = Counter(r["patientId"] for r in rows if r["Target"] == "1")
    assert len(table) == len({r["patientId"] for r in rows}) == 16 and len(positives) == len(boxes_per_patient) == 5
    assert all(len(s.boxes) == boxes_per_patient[s.image_id] == 2 for s in positives)
    for sample in table:
        mask = IMPLEMENTATION.mask(task, sample, (sample.height, sample.width))
        assert mask.shape == (1024, 1024) and mask.dtype == bool
        covered = {(y, x) for x1, y1, x2, y2 in sample.boxes
                   for y in range(int(y1), int(y2)) for x in range(int(x1), int(x2))}
        assert int(mask.sum()) == len(covered), sample.image_id  # the union: overlapping boxes count once
        assert all(mask[y, x] for y, x in list(covered)[:: max(1, len(covered) // 50)])
    with pytest.raises(Exception, match="mask canvas 1024x1024 differs"):
        IMPLEMENTATION.mask(task, positives[0], (512, 512))


def test_truth_is_the_masks_at_the_predictions_resolution(synthetic_tiny):
    from ecamp_bench.data.synth.generate import LAYOUTS

    task = get_catalog().task("rsna-seg")
    table = IMPLEMENTATION.prepare(task, rsna.read(synthetic_tiny / LAYOUTS["rsna-pneumonia"][0])).table
    bare = Predictions(tuple(table.ids), None, np.zeros((len(table), 32, 32), np.uint8))
    masks = attach_truth(IMPLEMENTATION, task, table, bare).targets
    has_box = np.array([bool(s.boxes) for s in table])
    assert masks.shape == (len(table), 32, 32) and has_box.any() and (~has_box).any()
    assert not masks[~has_box].any() and masks[has_box].reshape(has_box.sum(), -1).any(axis=1).all()
    names = [m.name for m in IMPLEMENTATION.score(task, attach_truth(IMPLEMENTATION, task, table, bare),
                                                  n_bootstrap=0, seed=0)]
    assert names == ["dice_per_image", "dice_dataset", "dice_positive"]


def test_rsna_seg_and_rsna_det_share_patients_per_split_exactly(synthetic_tiny):
    export_tiny_backbone()
    catalog = get_catalog()
    for fraction in (0.01, 0.1, 1.0):
        for seed in (0, 1):
            plans = {task: prepare_run(RunRequest(task=task, fraction=fraction, seed=seed, data_root=synthetic_tiny),
                                       catalog)
                     for task in ("rsna-seg", "rsna-det")}
            seg, det = plans["rsna-seg"].split, plans["rsna-det"].split
            for part in ("train", "val", "test"):
                assert getattr(seg, part).patients == getattr(det, part).patients, (fraction, seed, part)
                assert getattr(seg, part).ids == getattr(det, part).ids
            assert seg.sha256 == det.sha256 and len(seg.test) > 0
            assert plans["rsna-seg"].protocol.name == "frozen-seg" and plans["rsna-det"].protocol.name == "frozen-det"
