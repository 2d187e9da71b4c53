"""Where the real files of the official releases live for tests (``../shared/realdata`` next to the checkout).

Tests that need them call :func:`realdata` and are skipped, with the path in the reason, when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REALDATA = Path(os.environ.get("ECAMP_BENCH_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))


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
