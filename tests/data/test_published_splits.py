"""Published split lists of MRM, ECAMP and BenchX (the real files) matched against data sets built in memory."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import pytest
from _realdata import realdata

from ecamp_bench.data.published_splits import (
    apply_to_table, list_files, read_list_entries, resolve_published_split,
)
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.errors import ConfigError, DataError

CHEXPERT_LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")


def _ids(path: Path) -> list[str]:
    return [PurePosixPath(e.entry).name.removesuffix(".dcm").removesuffix(".png") for e in read_list_entries(path)]


def _siim_table(ids) -> SampleTable:
    root = Path("/data/siim")
    return SampleTable("siim-acr", root, tuple(
        Sample(image_id=i, image_path=root / "dicom-images-train" / "s" / "r" / f"{i}.dcm", patient_id=i,
               labels={"Pneumothorax": 0.0}) for i in dict.fromkeys(ids)))


def _rsna_table(root: Path, ids) -> SampleTable:
    return SampleTable("rsna-pneumonia", root, tuple(
        Sample(image_id=i, image_path=root / "stage_2_train_images" / f"{i}.dcm", patient_id=i,
               labels={"Pneumonia": 0.0}) for i in dict.fromkeys(ids)))


def test_list_formats_txt_with_labels_csv_with_boxes_and_rle():
    root = realdata("published-splits")
    mrm = read_list_entries(root / "MRM/RSNA_Pneumonia/test_list.txt")
    assert len(mrm) == 3000 and mrm[0].entry == "stage_2_test_images/2d29c5d7-cd1e-4fb7-896b-c55b69ca6c96.dcm"
    assert mrm[0].labels == (1.0,)
    det = read_list_entries(root / "ECAMP/Detection/RSNA/test_list.csv")
    assert len(det) == 5337 and det[0].entry == "train_images/ab1131b2-d179-4087-b32b-463a3e615ba6.png"
    assert det[0].boxes == ((296.0, 297.0, 482.0, 478.0), (606.0, 256.0, 841.0, 611.0))
    assert sum(bool(e.boxes) for e in det) == 1251
    seg = read_list_entries(root / "ECAMP/Segmentation/SIIM/train_list_1.csv")
    assert seg[0].entry == "1.2.276.0.7230010.3.1.4.8323329.11707.1517875234.409277" and seg[0].rle == "-1"
    chexpert = read_list_entries(root / "ECAMP/Classification/CheXpert/train_list_1.txt")
    assert chexpert[0].labels == (0.0, 1.0, 0.0, 1.0, 1.0)
    files = {f.role: f.path.name for f in list_files(root / "MRM/CheXpert")}
    assert files == {"train@0.01": "train_1.txt", "train@0.1": "train_10.txt", "val": "val_list.txt",
                     "test": "test_list.txt"}
    assert "test_list_600.txt" not in {f.path.name for f in list_files(root / "ECAMP/Classification/CheXpert")}


def test_mrm_chexpert_test_list_labels_equal_the_official_valid_csv():
    entries = read_list_entries(realdata("published-splits", "MRM/CheXpert/test_list.txt"))
    with open(realdata("chexpert", "CheXpert-v1.0-small", "valid.csv"), newline="") as fh:
        rows = {r["Path"]: r for r in csv.DictReader(fh)}
    assert len(entries) == len(rows) == 234
    for entry in entries:
        assert entry.labels == tuple(float(rows[entry.entry][n]) for n in CHEXPERT_LABELS), entry.line


def test_mrm_rsna_test_images_come_from_stage_2_test_images_with_list_labels(tmp_path):
    folder = realdata("published-splits", "MRM/RSNA_Pneumonia")
    test_ids = _ids(folder / "test_list.txt")
    (tmp_path / "stage_2_test_images").mkdir()
    for i in test_ids:
        (tmp_path / "stage_2_test_images" / f"{i}.dcm").touch()
    table = _rsna_table(tmp_path, _ids(folder / "train_1.txt") + _ids(folder / "val_list.txt"))
    split = resolve_published_split("mrm", task="rsna-cls", labels=("Pneumonia",), table=table, fraction=0.01,
                                    root=folder.parent.parent)
    assert (len(split.train), len(split.val), len(split.test)) == (251, 1500, 3000)
    assert split.fraction_list == 0.01 and [f.role for f in split.files] == ["train@0.01", "val", "test"]
    assert len(split.extra_samples) == 3000
    first = next(s for s in split.extra_samples if s.image_id == "2d29c5d7-cd1e-4fb7-896b-c55b69ca6c96")
    assert first.labels == {"Pneumonia": 1.0} and first.image_path.parent.name == "stage_2_test_images"
    positives = sum(e.labels == (1.0,) for e in read_list_entries(folder / "test_list.txt"))
    assert sum(s.labels["Pneumonia"] for s in split.extra_samples) == positives
    assert split.label_source["test"] == {"source": "list", "images_only_in_list": 3000, "disagree_with_csv": 0}
    assert split.label_source["train"]["source"] == "list"
    assert split.label_source["train"]["disagree_with_csv"] == sum(
        e.labels == (1.0,) for e in read_list_entries(folder / "train_1.txt"))  # the stand-in CSV says 0 for all
    import hashlib

    assert split.files[2].sha256 == hashlib.sha256((folder / "test_list.txt").read_bytes()).hexdigest()
    full = apply_to_table(split, table, ("Pneumonia",))
    assert len(full) == len(table) + 3000


def test_ecamp_rsna_png_lists_match_the_dicoms_by_patient_id(tmp_path):
    folder = realdata("published-splits", "ECAMP/Detection/RSNA")
    ids = _ids(folder / "train_list_1.csv") + _ids(folder / "val_list.csv") + _ids(folder / "test_list.csv")
    split = resolve_published_split("ecamp", task="rsna-det", labels=("Pneumonia",), table=_rsna_table(tmp_path, ids),
                                    fraction=0.01, root=folder.parent.parent.parent)
    assert (len(split.train), len(split.val), len(split.test)) == (160, 5337, 5337)
    assert any("PNG conversion" in note for note in split.notes)


def _mrm_siim_table() -> SampleTable:
    """A SIIM table (in memory) holding every image MRM's SIIM lists name."""
    folder = realdata("published-splits", "MRM/SIIM-ACR_Pneumothorax")
    return _siim_table(_ids(folder / "train_list.txt") + _ids(folder / "val_list.txt") + _ids(folder / "test_list.txt"))


def test_overlapping_lists_are_refused_with_counts_unless_allowed():
    root = realdata("published-splits")
    table = _mrm_siim_table()
    with pytest.raises(DataError, match=r"train∩val 478 images, train∩test 494 images, val∩test 124 images.*"
                                        r"--allow-split-overlap"):
        resolve_published_split("mrm", task="siim-seg", labels=("Pneumothorax",), table=table, fraction=1.0, root=root)
    split = resolve_published_split("mrm", task="siim-seg", labels=("Pneumothorax",), table=table, fraction=1.0,
                                    root=root, allow_overlap=True)
    assert split.overlaps == {"train&val": 478, "train&test": 494, "val&test": 124} and split.overlap_allowed
    assert split.to_record()["overlaps"]["train&test"] == 494


def test_ecamp_chexpert_validation_list_identical_to_test_is_refused():
    root = realdata("published-splits")
    folder = root / "ECAMP/Classification/CheXpert"
    entries = read_list_entries(folder / "train_list_1.txt") + read_list_entries(folder / "test_list.txt")
    table_root = Path("/data/CheXpert-v1.0-small")
    table = SampleTable("chexpert", table_root, tuple(
        Sample(image_id=f"CheXpert-v1.0-small/{e.entry}", image_path=table_root / e.entry,
               patient_id=PurePosixPath(e.entry).parts[1]) for e in entries))
    with pytest.raises(DataError, match="validation list is identical to the test list"):
        resolve_published_split("ecamp", task="chexpert-cls", labels=CHEXPERT_LABELS, table=table, fraction=0.01,
                                root=root)
    split = resolve_published_split("ecamp", task="chexpert-cls", labels=CHEXPERT_LABELS, table=table, fraction=0.01,
                                    root=root, allow_overlap=True)
    assert split.val_is_test and split.overlaps["val&test"] == 234 and len(split.train) == 2184


def test_lists_of_another_release_name_it_and_count_matches():
    root = realdata("published-splits")
    table = _mrm_siim_table()
    with pytest.raises(DataError, match=r"BenchX/SIIM/train_1.txt: 0 of 93 entries match the siim-acr data set.*"
                                        r"SIIM-ACR PNG re-release.*line 1 '1898_train_0_'"):
        resolve_published_split("benchx", task="siim-seg", labels=("Pneumothorax",), table=table, fraction=0.01,
                                root=root)


def test_unknown_names_and_missing_roots(tmp_path, monkeypatch):
    monkeypatch.delenv("ECAMP_BENCH_SPLITS", raising=False)
    table = _siim_table(["a"])
    with pytest.raises(ConfigError, match="--splits-root"):
        resolve_published_split("mrm", task="siim-seg", labels=("Pneumothorax",), table=table, fraction=1.0)
    with pytest.raises(ConfigError, match="not task 'rsna-det'"):
        resolve_published_split("mrm", task="rsna-det", labels=("Pneumonia",), table=table, fraction=1.0, root=tmp_path)
    with pytest.raises(Exception, match="Did you mean 'mrm'"):
        resolve_published_split("mrn", task="siim-seg", labels=("Pneumothorax",), table=table, fraction=1.0)
