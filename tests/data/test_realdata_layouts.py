"""The layouts on real files of the official releases: CheXpert CSVs, SIIM-ACR and RSNA DICOMs, MIMIC labels."""

from __future__ import annotations

import math
import shutil

import pytest
from _realdata import chexpert_tree, realdata

from ecamp_bench.cli import main
from ecamp_bench_plugins.layouts import chexpert, mimic_cxr
from ecamp_bench.errors import DataError


def test_chexpert_real_csvs_read_with_their_labels(tmp_path):
    table = chexpert.read(chexpert_tree(tmp_path, n_train=5))
    valid = [s for s in table if s.split == "valid"]
    assert len(valid) == 234 and len(table) == 239
    first = valid[0]
    assert first.image_id == "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg"
    assert (first.labels["Cardiomegaly"], first.labels["Edema"], first.labels["Support Devices"]) == (1.0, 0.0, 0.0)
    assert first.meta["ap_pa"] == "AP" and first.view == "Frontal"
    assert math.isnan(next(s for s in table if s.split == "train").labels["Pneumonia"])  # blank stays NaN (raw)


def test_chexpert_tree_without_its_image_folder_names_the_folder(tmp_path, capsys):
    root = chexpert_tree(tmp_path, n_train=3)
    shutil.rmtree(root / "valid")
    with pytest.raises(DataError,
                       match=r"CheXpert-v1.0-small/valid: image folder not found \(valid.csv names 234 images"):
        chexpert.read(root)
    problems = chexpert.validate(root)
    assert [(p.code, p.path) for p in problems] == [("missing-folder", str(root / "valid"))]
    assert main(["data", "check", "--layout", "chexpert", "--root", str(tmp_path)]) == 1
    assert "missing-folder" in capsys.readouterr().out


def test_mimic_chexpert_labels_are_optional(synthetic_tiny, tmp_path):
    from ecamp_bench.data.synth import LAYOUTS

    root = tmp_path / "mimic"
    shutil.copytree(synthetic_tiny / LAYOUTS["mimic-cxr"][0], root)
    (root / mimic_cxr.CHEXPERT).unlink()
    table = mimic_cxr.read(root)
    assert len(table) > 0 and all(s.labels == {} for s in table) and all(s.report for s in table)
    assert mimic_cxr.validate(root) == []


def _rle_pairs(rle: str) -> list[tuple[int, int]]:
    numbers = [int(v) for v in rle.split()]
    return list(zip(numbers[0::2], numbers[1::2]))


def test_siim_real_dicoms_and_rle_masks(tmp_path):
    import numpy as np
    from _realdata import siim_tree

    from ecamp_bench.data.images import load_image
    from ecamp_bench_plugins.layouts import siim
    from ecamp_bench.data.rle import decode_merged

    table = siim.read(siim_tree(tmp_path))
    assert len(table) == 10 and sum(s.labels["Pneumothorax"] for s in table) == 5
    for sample in table:
        assert (sample.height, sample.width) == (1024, 1024)
        mask = decode_merged(sample.mask_rle, sample.height, sample.width)
        rle = " ".join(r for r in sample.mask_rle if r.strip() not in ("", "-1"))
        assert int(mask.sum()) == sum(length for _, length in _rle_pairs(rle))  # area = the run lengths
        if rle:  # relative column-major: the first run starts at flat index start-1 of the transposed image
            start = _rle_pairs(rle)[0][0]
            assert mask.T.reshape(-1)[start] == 1 and mask.T.reshape(-1)[:start].sum() == 0
    image = load_image(table[0].image_path)
    assert image.shape == (1024, 1024) and image.dtype == np.float32 and 0.0 <= image.min() < image.max() <= 1.0


def test_rsna_real_boxes_and_labels():
    from ecamp_bench_plugins.layouts import rsna

    table = rsna.read(realdata("rsna-pneumonia"))
    assert len(table) == 16 and sum(s.labels[rsna.LABEL] for s in table) == 5  # (the folder's README says 6)
    by_id = {s.image_id: s for s in table}
    sample = by_id["00436515-870c-4b36-a041-de91049b9ab4"]
    assert sample.boxes == ((264.0, 152.0, 477.0, 531.0), (562.0, 152.0, 818.0, 605.0))  # x, y, x+w, y+h
    assert all(len(s.boxes) == 2 for s in table if s.labels[rsna.LABEL] == 1.0)
    assert all(s.boxes == () for s in table if s.labels[rsna.LABEL] == 0.0)
    assert by_id["0004cfab-14fd-4e49-80ba-63a80b6bddd6"].meta["class"] == "No Lung Opacity / Not Normal"
