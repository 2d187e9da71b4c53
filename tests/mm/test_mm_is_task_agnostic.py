"""Nothing under ``ecamp_bench/mm`` names a dataset or a label: a new segmentation or detection task is a
plugin file (its truth reaches the protocols through ``RunContext.mask`` / ``RunContext.boxes``)."""

from __future__ import annotations

import re
from pathlib import Path

import ecamp_bench

MM = Path(ecamp_bench.__file__).parent / "mm"
NAMES = re.compile(r"rsna|siim|chexpert|mimic|kaggle|pneumo|atelectasis|cardiomegaly|effusion|\brle\b", re.IGNORECASE)


def test_no_mm_file_names_a_dataset_or_label():
    hits = [f"{p.name}:{n}: {line.strip()}" for p in sorted(MM.glob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if NAMES.search(line)]
    assert hits == []


def test_the_check_would_catch_a_label():
    assert NAMES.search('label_names=("Pneumonia",)') and NAMES.search("decode SIIM RLE masks")


def test_the_tasks_mask_resize_is_mmcvs_nearest():
    """Training masks (mm) and scoring masks (task) share ``resize_mask``; it must equal mmcv's nearest resize,
    which the segmentation protocols used before the truth moved to the task (so Dice values are unchanged)."""
    import numpy as np
    import pytest

    mmcv = pytest.importorskip("mmcv")
    from ecamp_bench.data.masks import resize_mask

    rng = np.random.default_rng(0)
    for h, w, size in [(1024, 1024, 224), (97, 131, 64), (64, 64, 512)]:
        mask = rng.random((h, w)) < 0.3
        np.testing.assert_array_equal(resize_mask(mask, size),
                                      mmcv.imresize(mask.astype(np.uint8), (size, size), interpolation="nearest"))
