"""Bad input: every case raises a DataError naming file and row in ``read``; ``validate`` lists all of them."""

from __future__ import annotations

import gzip
import shutil

import pytest

from ecamp_bench_plugins.layouts import chexpert, mimic_cxr, rsna, siim
from ecamp_bench.data.synth import LAYOUTS
from ecamp_bench.errors import DataError


@pytest.fixture
def copy_of(synthetic_tiny, tmp_path):
    def copy(name):
        target = tmp_path / name
        shutil.copytree(synthetic_tiny / LAYOUTS[name][0], target)
        return target

    return copy


def _lines(path):
    return path.read_text().splitlines()


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_rsna_missing_column(copy_of):
    root = copy_of("rsna-pneumonia")
    lines = _lines(root / rsna.LABELS_FILE)
    _write(root / rsna.LABELS_FILE, [",".join(c.split(",")[:5]) for c in lines])  # drop Target
    with pytest.raises(DataError, match=r"stage_2_train_labels.csv.*row 1.*key 'Target'.*missing column"):
        rsna.read(root)
    assert [p.code for p in rsna.validate(root)] == ["missing-column"]


def test_rsna_every_bad_row_is_listed(copy_of):
    root = copy_of("rsna-pneumonia")
    path = root / rsna.LABELS_FILE
    lines = _lines(path)
    positive = next(i for i, line in enumerate(lines) if line.endswith(",1"))
    negative = next(i for i, line in enumerate(lines) if line.endswith(",0"))
    pid, x, y, w, h, _ = lines[positive].split(",")
    lines[positive] = ",".join([pid, "120.0", y, "50.0", h, "1"])  # x + width beyond the 128-px image
    missing_pid = lines[negative].split(",")[0]
    (root / rsna.IMAGES_DIR / f"{missing_pid}.dcm").unlink()
    lines.append("ffffffff-0000-4000-8000-000000000000,,,,,2")
    _write(path, lines)
    problems = rsna.validate(root)
    by_code = {p.code: p for p in problems}
    assert (by_code["box-outside-image"].row == positive + 1
            and "outside the 128x128" in by_code["box-outside-image"].message)
    assert by_code["missing-image"].row == negative + 1 and missing_pid in by_code["missing-image"].message
    assert any(p.row == len(lines) and p.key == "Target" for p in problems)
    assert len(problems) == 3, problems
    with pytest.raises(DataError, match=r"stage_2_train_labels.csv, row \d+"):
        rsna.read(root)


def test_rsna_unreadable_dicom(copy_of):
    root = copy_of("rsna-pneumonia")
    first = _lines(root / rsna.LABELS_FILE)[1].split(",")[0]
    (root / rsna.IMAGES_DIR / f"{first}.dcm").write_bytes(b"garbage" * 50)
    with pytest.raises(DataError, match=rf"{first}.dcm, row 2: unreadable DICOM"):
        rsna.read(root)
    assert [(p.code, p.row) for p in rsna.validate(root)] == [("unreadable-image", 2)]


def test_siim_malformed_rle_missing_image_and_truncated_dicom(copy_of):
    root = copy_of("siim-acr")
    path = root / siim.RLE_FILE
    lines = _lines(path)
    lines[1] = lines[1].split(",")[0] + ", 5 3 x 4"
    lines[2] = lines[2].split(",")[0] + ", 1 2 3"
    lines.append("1.2.3.4.5.6, -1")
    _write(path, lines)
    images = siim.index_images(root)
    victim = lines[3].split(",")[0]
    images[victim].write_bytes(images[victim].read_bytes()[:300])  # header cut short
    problems = siim.validate(root)
    codes = sorted((p.code, p.row) for p in problems)
    assert ("malformed-rle", 2) in codes and ("malformed-rle", 3) in codes
    assert ("missing-image", len(lines)) in codes
    assert any(p.code == "unreadable-image" and p.row == 4 and victim in p.path for p in problems)
    assert len(problems) == 4, problems
    with pytest.raises(DataError, match=r"train-rle.csv, row 2, key 'EncodedPixels'.*not an integer"):
        siim.read(root)


def test_mimic_missing_image_report_column_and_bad_label(copy_of):
    root = copy_of("mimic-cxr")
    table = mimic_cxr.read(root)
    table[0].image_path.unlink()
    report = table[-1].image_path.parent.with_suffix(".txt")
    report.unlink()
    with gzip.open(root / mimic_cxr.CHEXPERT, "rt") as handle:
        lines = handle.read().splitlines()
    lines[1] = ",".join(lines[1].split(",")[:2] + ["maybe"] + lines[1].split(",")[3:])
    with gzip.open(root / mimic_cxr.CHEXPERT, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    problems = mimic_cxr.validate(root)
    codes = {p.code for p in problems}
    assert codes == {"missing-image", "missing-report", "invalid"}, problems
    missing = next(p for p in problems if p.code == "missing-image")
    assert missing.row == 2 and missing.path.endswith(mimic_cxr.METADATA) and table[0].image_id in missing.message
    assert next(p for p in problems if p.code == "invalid").key == "Atelectasis"
    with pytest.raises(DataError, match=r"chexpert.csv.gz, row 2, key 'Atelectasis'"):
        mimic_cxr.read(root)


def test_mimic_missing_split_file(copy_of):
    root = copy_of("mimic-cxr")
    (root / mimic_cxr.SPLIT).unlink()
    with pytest.raises(DataError, match="split.csv.gz: required file is missing"):
        mimic_cxr.read(root)


def test_chexpert_missing_column_image_and_unreadable_jpeg(copy_of):
    root = copy_of("chexpert")
    train = _lines(root / "train.csv")
    first = train[1].split(",")[0]
    (root / first.split("/", 1)[1]).write_bytes(b"not a jpeg")
    second = train[2].split(",")[0]
    (root / second.split("/", 1)[1]).unlink()
    valid = _lines(root / "valid.csv")
    _write(root / "valid.csv", [line.rsplit(",", 1)[0] for line in valid])  # drop Support Devices
    problems = chexpert.validate(root)
    found = sorted((p.code, p.row, p.key) for p in problems)
    assert found == [("missing-column", 1, "Support Devices"), ("missing-image", 3, "Path"),
                     ("unreadable-image", 2, "Path")], problems
    with pytest.raises(DataError, match=r"train.csv, row 3, key 'Path': image file not found"):
        chexpert.read(root)


@pytest.mark.parametrize("layout, csv", [("chexpert", "train.csv"), ("nih-cxr14", "Data_Entry_2017_v2020.csv")])
def test_a_duplicate_image_id_is_a_problem_naming_the_csv_and_line(copy_of, layout, csv, capsys):
    from ecamp_bench.cli import main
    from ecamp_bench.plugins import get_catalog

    root = copy_of(layout)
    lines = _lines(root / csv)
    _write(root / csv, [*lines, lines[2]])  # line 3 listed again as the last line

    spec = get_catalog().layout(layout)
    problems = spec.validate(root)
    duplicate = [p for p in problems if p.code == "duplicate-id"]
    assert len(duplicate) == 1, problems
    assert duplicate[0].path.endswith(csv) and duplicate[0].row == len(lines) + 1
    assert "(first listed at line 3)" in duplicate[0].message
    with pytest.raises(DataError, match=rf"{csv}, row {len(lines) + 1}, key .*duplicate image id"):
        spec.read(root)
    assert main(["data", "check", "--layout", layout, "--root", str(root), "--quick", "--workers", "1"]) == 1
    assert "duplicate-id" in capsys.readouterr().out
