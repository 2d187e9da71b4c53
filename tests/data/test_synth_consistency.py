"""Text and labels agree with the pixels: opacities are brighter, pneumothoraces darker, both are reported."""

from __future__ import annotations

import numpy as np

from ecamp_bench.data.images import load_image
from ecamp_bench_plugins.layouts import mimic_cxr, rsna, siim
from ecamp_bench.data.rle import decode_merged
from ecamp_bench.data.synth import LAYOUTS
from ecamp_bench.data.synth.case import make_case
from ecamp_bench.data.synth.truth import read_truth


def _local_contrast(images: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """Mean of the box minus the mean of a ring half the box wide around it (per image of ``[..., H, W]``)."""
    h, w = y2 - y1, x2 - x1
    outer = images[..., max(0, y1 - h // 2): y2 + h // 2, max(0, x1 - w // 2): x2 + w // 2]
    inner = images[..., y1:y2, x1:x2]
    ring_area = outer.shape[-1] * outer.shape[-2] - inner.shape[-1] * inner.shape[-2]
    return inner.mean((-1, -2)) - (outer.sum((-1, -2)) - inner.sum((-1, -2))) / ring_area


def test_pneumonia_boxes_are_brighter_than_their_surroundings_beyond_what_anatomy_gives(synthetic_tiny):
    # Exposure, habitus and pose vary by patient (generator 3), so a box is compared with its own surroundings,
    # and that local contrast with the same box's local contrast in healthy images (anatomy alone).
    table = rsna.read(synthetic_tiny / LAYOUTS["rsna-pneumonia"][0])
    images = {s.image_id: load_image(s.image_path) for s in table}
    healthy = np.stack([images[s.image_id] for s in table if s.meta["class"] == "Normal"])  # [N, H, W]
    assert len(healthy) >= 5
    gaps = []
    for sample in table:
        for box in sample.boxes:
            box = tuple(int(v) for v in box)
            gaps.append(_local_contrast(images[sample.image_id], *box) - _local_contrast(healthy, *box).mean())
    assert len(gaps) >= 5
    assert np.mean(gaps) > 0.03 and np.mean(np.array(gaps) > 0.0) > 0.8, gaps


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
        assert ("pneumothorax" in text) and (("no pneumothorax" not in text
                                              and "no evidence of pneumothorax" not in text
                                             and "or pneumothorax" not in text) == drawn), text
