"""NIH ChestX-ray14 and COVIDx: hand-written fixtures in the official formats read right; bad input named by file
and row."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from _release_fixtures import covidx_tree
from _release_fixtures import nih_tree as make_nih_tree
from ecamp_bench_plugins.layouts import covidx, nih_cxr14
from ecamp_bench.data.synth import LAYOUTS
from ecamp_bench.errors import DataError


@pytest.fixture
def nih_tree(tmp_path):
    return make_nih_tree(tmp_path / "nih")


@pytest.fixture
def v7a_tree(tmp_path):
    return covidx_tree(tmp_path / "v7a", "covidx-v7a")


@pytest.fixture
def cxr4_tree(tmp_path):
    return covidx_tree(tmp_path / "cxr4", "covidx-cxr4")


def test_nih_fixture_labels_splits_and_boxes(nih_tree):
    assert nih_cxr14.detect(nih_tree) and nih_cxr14.validate(nih_tree) == []
    table = nih_cxr14.read(nih_tree)
    by_id = {s.image_id: s for s in table}
    assert len(table) == 7 and len(set(table.patients)) == 4
    positives = {label: int(v) for label, v in zip(nih_cxr14.LABELS, table.label_matrix(nih_cxr14.LABELS).sum(axis=0))
                 if v}
    assert positives == {"Cardiomegaly": 3, "Emphysema": 1, "Effusion": 1, "Infiltration": 1, "Mass": 2, "Nodule": 1,
                         "Pleural_Thickening": 1, "Hernia": 1}
    assert set(by_id["00000002_000.png"].labels.values()) == {0.0}  # "No Finding"
    assert by_id["00000003_000.png"].label("Hernia") == 1.0 and by_id["00000003_000.png"].label("Nodule") == 0.0
    assert Counter(s.split for s in table) == {"train_val": 4, "test": 3}
    assert by_id["00000004_000.png"].image_path.parent == nih_tree / "images_002" / "images"
    boxes = by_id["00000003_000.png"]
    assert boxes.meta["box_labels"] == ("Infiltration", "Mass")  # "Infiltrate" → the Data_Entry spelling
    assert boxes.boxes[1] == pytest.approx((686.101694915254, 131.186440677966, 686.101694915254 + 185.491525423729,
                                            131.186440677966 + 313.491525423729))
    assert by_id["00000001_001.png"].meta["original_size"] == (2894, 2729) and by_id["00000001_001.png"].view == "PA"


def test_nih_2020_file_wins_and_parses_without_trailing_comma(nih_tree):
    text = ((nih_tree / "Data_Entry_2017.csv").read_text().replace(",\n", "\n")
            .replace("Cardiomegaly|Effusion", "Effusion"))
    (nih_tree / "Data_Entry_2017_v2020.csv").write_text(text)
    table = nih_cxr14.read(nih_tree)
    assert {s.image_id: s for s in table}["00000001_002.png"].label("Cardiomegaly") == 0.0


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_nih_missing_column(nih_tree):
    _replace(nih_tree / "Data_Entry_2017.csv", "Finding Labels", "Findings")
    with pytest.raises(DataError, match=r"Data_Entry_2017.csv, row 1, key 'Finding Labels'.*missing column"):
        nih_cxr14.read(nih_tree)
    assert [p.code for p in nih_cxr14.validate(nih_tree)] == ["missing-column"]


def test_nih_every_bad_row_is_listed(nih_tree):
    _replace(nih_tree / "Data_Entry_2017.csv", "Hernia|Infiltration|Mass", "Hernia|Infiltrate|Mass")  # line 6
    (nih_tree / "images_001" / "images" / "00000002_000.png").unlink()  # line 5
    _replace(nih_tree / "test_list.txt", "00000003_001.png", "00000004_000.png")  # patient 4 in both lists
    problems = nih_cxr14.validate(nih_tree)
    by_code = {p.code: p for p in problems}
    assert by_code["unknown-label"].row == 6 and "'Infiltrate'" in by_code["unknown-label"].message
    assert by_code["missing-image"].row == 5 and "00000002_000.png" in by_code["missing-image"].message
    both = by_code["image-in-both-lists"]
    assert both.path.endswith("test_list.txt") and both.row == 3 and "train_val_list.txt (line 4)" in both.message
    assert by_code["missing-split"].row == 7 and "00000003_001.png" in by_code["missing-split"].message
    with pytest.raises(DataError, match=r"test_list.txt, row 3: image 00000004_000.png is also listed"):
        nih_cxr14.read(nih_tree)


def test_nih_patient_in_both_official_lists(nih_tree):
    _replace(nih_tree / "train_val_list.txt", "00000004_000.png\n", "")
    _replace(nih_tree / "test_list.txt", "00000003_001.png\n", "00000003_001.png\n00000004_000.png\n")
    _replace(nih_tree / "Data_Entry_2017.csv", "00000004_000.png,Mass|Nodule,0,4,", "00000004_000.png,Mass|Nodule,2,1,")
    problems = nih_cxr14.validate(nih_tree)
    assert [(p.code, p.row) for p in problems] == [("patient-in-both-lists", 4)]
    assert "patient 1 has images in both official lists" in problems[0].message
    with pytest.raises(DataError, match=r"test_list.txt, row 4: patient 1"):
        nih_cxr14.read(nih_tree)


def test_nih_listed_image_absent_from_data_entry(nih_tree):
    (nih_tree / "test_list.txt").write_text((nih_tree / "test_list.txt").read_text() + "00000099_000.png\n")
    problems = nih_cxr14.validate(nih_tree)
    assert [(p.code, p.row, Path(p.path).name) for p in problems] == [("unknown-image", 4, "test_list.txt")]


def test_covidx_v7a_three_class_fixture(v7a_tree):
    assert covidx.detect(v7a_tree) and covidx.validate(v7a_tree) == []
    table = covidx.read(v7a_tree)
    assert Counter((s.split, s.meta["class"]) for s in table) == {
        ("train", "normal"): 1, ("train", "pneumonia"): 2, ("train", "COVID-19"): 3,
        ("test", "normal"): 2, ("test", "pneumonia"): 1, ("test", "COVID-19"): 1,
    }
    by_id = {s.image_id: s for s in table}
    assert by_id["COVID(70).png"].patient_id == "COVID 70" and by_id["COVID(70).png"].meta["data_source"] == "sirm"
    assert by_id["0a1f3b9c-1111-4c2e-9d1e-000000000001.png"].meta["data_source"] is None
    assert by_id["COVID(70).png"].labels == {"normal": 0.0, "pneumonia": 0.0, "COVID-19": 1.0}
    assert {s.meta["classes"] for s in table} == {covidx.THREE_CLASS}
    assert len({s.patient_id for s in table if s.patient_id == "ANON45"}) == 1


def test_covidx_cxr4_binary_fixture_with_val_list(cxr4_tree):
    assert covidx.validate(cxr4_tree) == []
    table = covidx.read(cxr4_tree)
    assert Counter((s.split, s.meta["class"]) for s in table) == {
        ("train", "positive"): 2, ("train", "negative"): 2, ("val", "positive"): 1, ("val", "negative"): 1,
        ("test", "positive"): 2, ("test", "negative"): 1,
    }
    assert {s.meta["classes"] for s in table} == {covidx.BINARY}
    assert all(s.image_path.parent.name == s.split for s in table)


def test_covidx_unknown_class_and_missing_field(cxr4_tree):
    _replace(cxr4_tree / "train.txt", "000000000011.png negative rsna", "000000000011.png Negative rsna")
    (cxr4_tree / "test.txt").write_text((cxr4_tree / "test.txt").read_text() + "lonely-patient\n")
    problems = covidx.validate(cxr4_tree)
    assert [(Path(p.path).name, p.row, p.code) for p in problems] == [
        ("train.txt", 2, "unknown-class"), ("test.txt", 4, "invalid")]
    assert "unknown class name 'Negative'" in problems[0].message and "positive" in problems[0].message
    with pytest.raises(DataError, match=r"train.txt, row 2, key 'class': unknown class name 'Negative'"):
        covidx.read(cxr4_tree)


def test_covidx_image_listed_but_absent_and_patient_in_both_lists(cxr4_tree):
    (cxr4_tree / "test" / "sub-S03076_ses-E08002_run-1_bp-chest_vp-pa_dx.png").unlink()
    _replace(cxr4_tree / "test.txt", "sub-S03075 ", "sub-S03068 ")  # a train patient also in test
    problems = covidx.validate(cxr4_tree)
    assert [(Path(p.path).name, p.row, p.code) for p in problems] == [
        ("test.txt", 2, "patient-in-several-lists"), ("test.txt", 3, "missing-image")]
    assert "train.txt (line 4)" in problems[0].message
    with pytest.raises(DataError, match=r"test.txt, row 2, key 'patient_id': patient 'sub-S03068'"):
        covidx.read(cxr4_tree)


def test_covidx_mixed_release_classes(cxr4_tree):
    _replace(cxr4_tree / "val.txt", "000000000013.png negative", "000000000013.png normal")
    problems = covidx.validate(cxr4_tree)
    assert [(Path(p.path).name, p.row, p.code) for p in problems] == [("val.txt", 1, "mixed-release")]


def test_covidx_missing_list(cxr4_tree):
    (cxr4_tree / "test.txt").unlink()
    assert not covidx.detect(cxr4_tree)
    assert [(Path(p.path).name, p.code) for p in covidx.validate(cxr4_tree)] == [("test.txt", "missing-file")]


@pytest.mark.parametrize("layout,module", [("nih-cxr14", nih_cxr14), ("covidx-cxr", covidx)])
def test_synthetic_trees_are_clean(synthetic_tiny, layout, module):
    root = synthetic_tiny / LAYOUTS[layout][0]
    assert module.detect(root) and module.validate(root) == []
    table = module.read(root)
    assert {s.split for s in table} >= {"test"} and len({s.split for s in table}) == 2
