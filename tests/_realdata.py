"""Where the real files of the official releases live for tests (``../shared/realdata`` next to the checkout).

Tests that need them call :func:`realdata` and are skipped, with the path in the reason, when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REALDATA = Path(os.environ.get("ECAMP_BENCH_REALDATA",
                               Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))


def realdata(*parts: str) -> Path:
    """``REALDATA/parts...``; skips the calling test when it does not exist."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found: {path}")
    return path


def placeholder_jpeg(path: Path, size: int = 64, seed: int = 0) -> Path:
    """A noise JPEG (``size`` px square, grayscale) at ``path``; noise keeps it large for truncation tests."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def chexpert_tree(target: Path, n_train: int = 20) -> Path:
    """``target/CheXpert-v1.0-small``: the real ``valid.csv``, the real ``train.csv`` cut to its first ``n_train``
    rows, and a placeholder JPEG at every listed path. Returns the layout root."""
    import csv

    source = realdata("chexpert", "CheXpert-v1.0-small")
    root = Path(target) / "CheXpert-v1.0-small"
    root.mkdir(parents=True)
    lines = (source / "train.csv").read_text().splitlines(keepends=True)
    (root / "train.csv").write_text("".join(lines[: n_train + 1]))
    (root / "valid.csv").write_bytes((source / "valid.csv").read_bytes())
    for name in ("train.csv", "valid.csv"):
        with open(root / name, newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                placeholder_jpeg(Path(target) / row["Path"], seed=i)
    return root


def siim_tree(target: Path) -> Path:
    """``target``: the 10 real SIIM-ACR DICOMs (copied) and the rows of the real ``train-rle.csv`` that name them."""
    import shutil

    source = realdata("siim-acr")
    shutil.copytree(source / "dicom-images-train", Path(target) / "dicom-images-train")
    ids = {p.stem for p in (Path(target) / "dicom-images-train").rglob("*.dcm")}
    lines = (source / "train-rle.csv").read_text().splitlines(keepends=True)
    kept = [line for line in lines[1:] if line.split(",")[0].strip() in ids]
    (Path(target) / "train-rle.csv").write_text(lines[0] + "".join(kept))
    return Path(target)


def rsna_tree_for_lists(target: Path, lists: list[Path], size: int = 32) -> Path:
    """An RSNA stage-2 tree: the 16 real DICOMs with their official CSV rows, plus a small synthetic stand-in
    DICOM for every other image the ``lists`` (MRM/ECAMP ``.txt`` lists, labels in the line) name: train/val ids
    in ``stage_2_train_images`` with CSV rows carrying the list's label (a positive gets one box), test ids in
    ``stage_2_test_images`` (no CSV row, as in the official download). Stand-ins differ by label (brighter
    when positive) so a classifier has something to learn."""
    import shutil

    import numpy as np

    from ecamp_bench.data.split_lists import read_list_entries
    from ecamp_bench.data.synth.writers import make_uid, write_dicom

    source = realdata("rsna-pneumonia")
    root = Path(target)
    shutil.copytree(source / "stage_2_train_images", root / "stage_2_train_images")
    shutil.copy(source / "stage_2_detailed_class_info.csv", root / "stage_2_detailed_class_info.csv")
    rows = (source / "stage_2_train_labels.csv").read_text().splitlines()
    real = {row.split(",")[0] for row in rows[1:]}
    templates = {}
    for label in (0, 1):
        pixels = np.random.default_rng(label).integers(0, 120 + 100 * label, size=(size, size), dtype=np.uint8)
        write_dicom(root / f".template{label}.dcm", pixels, sop_uid=make_uid("t", label),
                    study_uid=make_uid("s", label), series_uid=make_uid("r", label), patient_id="standin")
        templates[label] = root / f".template{label}.dcm"
    (root / "stage_2_test_images").mkdir()
    for path in lists:
        for entry in read_list_entries(path):
            folder, name = entry.entry.split("/")
            image_id = name.removesuffix(".dcm")
            label = int(entry.labels[0])
            if image_id in real or (root / folder / name).exists():
                continue
            shutil.copyfile(templates[label], root / folder / name)
            if folder == "stage_2_train_images":
                rows.append(f"{image_id},4.0,4.0,8.0,8.0,1" if label else f"{image_id},,,,,0")
    for template in templates.values():
        template.unlink()
    (root / "stage_2_train_labels.csv").write_text("\n".join(rows) + "\n")
    return root
