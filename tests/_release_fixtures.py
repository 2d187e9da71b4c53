"""Trees built from the hand-written fixtures in ``tests/fixtures/`` (official formats), with tiny PNGs written here."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NIH_FOLDERS = {"images_001": ("00000001_000.png", "00000001_001.png", "00000001_002.png", "00000002_000.png"),
               "images_002": ("00000003_000.png", "00000003_001.png", "00000004_000.png")}


def write_png(path: Path, value: int = 128) -> None:
    """A 16 × 16 grey 8-bit PNG at ``path``."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16), value, np.uint8), mode="L").save(path)


def nih_tree(target: Path) -> Path:
    """The ``nih-cxr14`` fixture copied to ``target`` with its images under ``images_00N/images/``."""
    shutil.copytree(FIXTURES / "nih-cxr14", target)
    for folder, names in NIH_FOLDERS.items():
        for name in names:
            write_png(target / folder / "images" / name)
    return target


def covidx_tree(target: Path, fixture: str) -> Path:
    """A COVIDx fixture (``covidx-v7a``, ``covidx-cxr4``) copied to ``target``, every listed image written."""
    from ecamp_bench_plugins.layouts import covidx

    shutil.copytree(FIXTURES / fixture, target)
    for split in covidx.SPLITS:
        path = covidx.list_file(target, split)
        for line in path.read_text().splitlines() if path else ():
            write_png(target / covidx.IMAGE_FOLDERS[split][0] / covidx.parse_line(line)[1])
    return target
