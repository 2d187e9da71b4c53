"""Each adapter on the tiny synthetic tree: counts, labels, boxes, masks, reports, layout roots."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from ecamp_bench_plugins.layouts import chexpert, mimic_cxr, rsna, siim
from ecamp_bench.data.rle import decode_merged
from ecamp_bench.data.roots import find_layout_root
from ecamp_bench.data.synth import LAYOUTS, SIZE_PARAMS, marker_size, read_marker
from ecamp_bench.data.synth.truth import read_truth
from ecamp_bench.errors import DataError
from ecamp_bench.plugins import get_catalog


def root_of(base, name):
    return base / LAYOUTS[name][0]


def test_marker_counts_match_what_adapters_read(synthetic_tiny):
    marker = read_marker(synthetic_tiny)
    assert marker_size(marker) == "tiny" and marker["seed"] == 0
    assert marker["preset"] == "tiny"  # the marker key keeps its former name: trees and records of every version
    modules = {"mimic-cxr": mimic_cxr, "chexpert": chexpert, "rsna-pneumonia": rsna, "siim-acr": siim}
    for name, module in modules.items():
        table = module.read(root_of(synthetic_tiny, name))
        assert len(table) == marker["counts"][name], name
        assert module.validate(root_of(synthetic_tiny, name)) == []
    assert marker["counts"]["rsna-pneumonia"] == SIZE_PARAMS["tiny"]["rsna-pneumonia"]


def test_find_layout_root_accepts_parent_and_names_both_paths(synthetic_tiny, tmp_path):
    catalog = get_catalog()
    for name, (subdir, _) in LAYOUTS.items():
        spec = catalog.layout(name)
        assert spec.subdir == subdir
        assert find_layout_root(spec, synthetic_tiny) == synthetic_tiny / subdir
        assert find_layout_root(spec, synthetic_tiny / subdir) == synthetic_tiny / subdir
    with pytest.raises(DataError) as info:
        find_layout_root(catalog.layout("siim-acr"), tmp_path)
    assert str(tmp_path) in str(info.value) and "siim-acr-pneumothorax" in str(info.value)


def test_rsna_boxes_and_labels_follow_the_truth(synthetic_tiny):
    root = root_of(synthetic_tiny, "rsna-pneumonia")
    table, truth = rsna.read(root), read_truth(root)
    positives = [s for s in table if s.labels["Pneumonia"] == 1.0]
    assert 0 < len(positives) < len(table)
    for sample in table:
        expected = [tuple(b) for b in truth[sample.image_id]["boxes"]]
        assert list(sample.boxes) == expected
        assert sample.labels["Pneumonia"] == float(bool(expected))
        assert sample.width == sample.height == SIZE_PARAMS["tiny"]["size"]
        assert all(0 <= x1 < x2 <= sample.width and 0 <= y1 < y2 <= sample.height for x1, y1, x2, y2 in sample.boxes)
        assert sample.meta["class"] == ("Lung Opacity" if expected else sample.meta["class"])
    assert any(len(s.boxes) > 1 for s in positives)  # boxes are grouped per patient


def test_siim_masks_round_trip_against_the_drawn_truth(synthetic_tiny):
    from ecamp_bench.data.synth.case import make_case

    root = root_of(synthetic_tiny, "siim-acr")
    table = siim.read(root)
    size = SIZE_PARAMS["tiny"]["size"]
    positives = 0
    for index, sample in enumerate(table):  # table order is generation order
        case = make_case(0, "siim", index, size)
        drawn = case.truth.pneumothorax if case.truth.pneumothorax is not None else np.zeros((size, size), bool)
        mask = decode_merged(sample.mask_rle, sample.height, sample.width)
        np.testing.assert_array_equal(mask, drawn)
        assert sample.labels["Pneumothorax"] == float(drawn.any())
        positives += drawn.any()
    assert positives > 0
    assert any(len(s.mask_rle) > 1 for s in table)  # bilateral: several rows for one image


def test_siim_header_with_and_without_space(synthetic_tiny, tmp_path):
    import shutil

    copy = tmp_path / "siim"
    shutil.copytree(root_of(synthetic_tiny, "siim-acr"), copy)
    text = (copy / "train-rle.csv").read_text()
    assert text.startswith("ImageId, EncodedPixels\n")
    (copy / "train-rle.csv").write_text(text.replace(", ", ","))
    assert [s.mask_rle for s in siim.read(copy)] == [s.mask_rle for s in siim.read(root_of(synthetic_tiny, "siim-acr"))]


def test_mimic_labels_reports_and_splits(synthetic_tiny):
    root = root_of(synthetic_tiny, "mimic-cxr")
    table = mimic_cxr.read(root)
    with gzip.open(root / mimic_cxr.METADATA, "rt") as handle:
        header = handle.readline().strip().split(",")
    assert header == ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                      "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                      "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]
    assert {s.split for s in table} <= {"train", "validate", "test"}
    assert {s.view for s in table} >= {"LATERAL"} and len(mimic_cxr.frontal_only(table)) < len(table)
    for sample in table:
        rel = sample.image_path.relative_to(root).parts
        assert rel[0] == "files" and rel[1] == f"p{sample.patient_id[:2]}" and rel[2] == f"p{sample.patient_id}"
        assert rel[3] == f"s{sample.study_id}" and rel[4] == f"{sample.image_id}.jpg"
        assert sample.report and "FINDINGS" not in sample.report and "INDICATION" not in sample.report
        assert set(sample.labels) == set(mimic_cxr.LABELS)
        for name, word in (("Pneumothorax", "pneumothorax"), ("Pleural Effusion", "effusion"), ("Edema", "edema")):
            if sample.labels[name] == 1.0:
                assert word in sample.report.lower(), (name, sample.report)
        if sample.labels["No Finding"] == 1.0:
            assert not any(sample.labels[n] == 1.0 for n in ("Consolidation", "Pneumothorax", "Edema", "Atelectasis"))


def test_chexpert_columns_paths_and_uncertainty_policy(synthetic_tiny):
    root = root_of(synthetic_tiny, "chexpert")
    assert (root / "train.csv").read_text().splitlines()[0] == ",".join(
        ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *chexpert.OBSERVATIONS])
    table = chexpert.read(root)
    assert {s.split for s in table} == {"train", "valid"}
    assert {s.view for s in table} == {"Frontal", "Lateral"}
    assert all(s.image_id.startswith("CheXpert-v1.0-small/") and s.image_path.is_file() for s in table)
    assert all(s.patient_id in s.image_id for s in table)
    valid = [s for s in table if s.split == "valid"]
    assert valid and all(v in (0.0, 1.0) for s in valid for v in s.labels.values())
    train_values = {v for s in table if s.split == "train" for v in s.labels.values() if not math.isnan(v)}
    assert train_values <= {1.0, 0.0, -1.0}
    assert any(math.isnan(v) for s in table if s.split == "train" for v in s.labels.values())
    frontal = chexpert.frontal_only(table)
    assert 0 < len(frontal) < len(table) and all(s.view == "Frontal" for s in frontal)
    assert chexpert.COMPETITION_LABELS == ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
    assert len(chexpert.OBSERVATIONS) == 14
