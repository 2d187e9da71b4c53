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
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if NAMES.search(line)]  # fmt: skip
    assert hits == []


def test_the_check_would_catch_a_label():
    assert NAMES.search('label_names=("Pneumonia",)') and NAMES.search("decode SIIM RLE masks")
