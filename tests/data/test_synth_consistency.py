"""Text and labels agree with the pixels: opacities are brighter, pneumothoraces darker, both are reported."""

from __future__ import annotations

import numpy as np

from ecamp_bench.data.images import load_image
from ecamp_bench.data.layouts import mimic_cxr, rsna, siim
from ecamp_bench.data.rle import decode_merged
from ecamp_bench.data.synth import LAYOUTS
from ecamp_bench.data.synth.case import make_case
from ecamp_bench.data.synth.truth import read_truth


def test_pneumonia_boxes_are_brighter_than_the_same_region_in_healthy_images(synthetic_tiny):
    table = rsna.read(synthetic_tiny / LAYOUTS["rsna-pneumonia"][0])
    images = {s.image_id: load_image(s.image_path) for s in table}
    healthy = np.stack([images[s.image_id] for s in table if s.meta["class"] == "Normal"])  # [N, H, W]
    assert len(healthy) >= 5
    gaps = []
    for sample in table:
        for x1, y1, x2, y2 in sample.boxes:
            box = (slice(int(y1), int(y2)), slice(int(x1), int(x2)))
            gaps.append(images[sample.image_id][box].mean() - healthy[(slice(None), *box)].mean())
    assert len(gaps) >= 5
    assert np.mean(gaps) > 0.08 and np.mean(np.array(gaps) > 0.02) > 0.8, gaps


def test_pneumothorax_regions_are_darker_than_the_same_region_in_negatives(synthetic_tiny):
    table = siim.read(synthetic_tiny / LAYOUTS["siim-acr"][0])
    negatives = np.stack([load_image(s.image_path) for s in table if s.labels["Pneumothorax"] == 0.0])
    gaps = []
    for sample in table:
        if sample.labels["Pneumothorax"] == 1.0:
            mask = decode_merged(sample.mask_rle, sample.height, sample.width)
            gaps.append(load_image(sample.image_path)[mask].mean() - negatives[:, mask].mean())
    assert len(gaps) >= 5 and np.mean(gaps) < -0.03 and np.mean(np.array(gaps) < 0) > 0.8, gaps


def test_every_drawn_finding_is_in_the_report_with_its_side(synthetic_tiny):
    root = synthetic_tiny / LAYOUTS["mimic-cxr"][0]
    truth = read_truth(root)
    words = {"consolidation": ("consolidation", "opacity", "pneumonia"), "pneumothorax": ("pneumothorax",),
             "effusion": ("effusion",), "atelectasis": ("atelectasis",), "edema": ("edema",),
             "cardiomegaly": ("cardiomegaly", "enlarged"), "nodule": ("nodule", "mass")}
    checked = 0
    for sample in mimic_cxr.read(root):
        text = sample.report.lower()
        for record in truth[sample.image_id]["findings"]:
            if record["kind"] in words:
                assert any(w in text for w in words[record["kind"]]), (record, text)
                if record.get("side") in ("left", "right") and record["kind"] != "atelectasis":
                    assert any(w in text for w in (record["side"], "bilateral", "both", "lingula")), (record, text)
                checked += 1
        if not truth[sample.image_id]["findings"]:
            assert ("no " in text or "normal" in text) and sample.labels["No Finding"] == 1.0
    assert checked >= 10


def test_pneumothorax_positives_are_reported_and_labelled():
    for index in range(60):
        case = make_case(0, "siim", index, 64)
        drawn = case.truth.pneumothorax is not None and case.truth.pneumothorax.any()
        text = f"{case.report.findings} {case.report.impression}".lower()
        assert case.report.labels["Pneumothorax"] == (1.0 if drawn else 0.0)
        assert ("pneumothorax" in text) and (("no pneumothorax" not in text and "no evidence of pneumothorax" not in text
                                             and "or pneumothorax" not in text) == drawn), text
