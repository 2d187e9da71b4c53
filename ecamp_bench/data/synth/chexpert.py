"""Write synthetic studies in the CheXpert-v1.0-small layout (``train.csv``, ``valid.csv``, JPEG tree)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecamp_bench.data.synth.case import HardFinding, make_case
from ecamp_bench.data.synth.parallel import Progress, map_cases
from ecamp_bench.data.synth.reports import OBSERVATIONS
from ecamp_bench.data.synth.truth import drawn_observations, write_truth
from ecamp_bench.data.synth.writers import fmt_label, save_jpeg, write_csv

ROOT_NAME = "CheXpert-v1.0-small"
COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *OBSERVATIONS)


def _render(item: tuple) -> dict:
    root, seed, index, size, split, patient, study, lateral, hard = item
    case = make_case(seed, "chexpert", index, size, lateral=lateral, hard=hard)
    relative = f"{split}/patient{patient:05d}/study{study}"
    rows, truth = [], []
    if split == "valid":  # the official test set: radiologist consensus, 0/1 only
        present = drawn_observations(case.truth.records)
        labels = {name: float(name in present) for name in OBSERVATIONS}
        labels["No Finding"] = float(not (present - {"Support Devices"}))
    else:
        labels = case.report.labels
    views = [("view1_frontal.jpg", "Frontal", case.view, case.frontal)]
    if case.lateral is not None:
        views.append(("view2_lateral.jpg", "Lateral", "", case.lateral))
    for name, frontal_lateral, ap_pa, pixels in views:
        save_jpeg(Path(root) / relative / name, pixels)
        path = f"{ROOT_NAME}/{relative}/{name}"
        rows.append((path, case.sex, case.age, frontal_lateral, ap_pa, *(fmt_label(labels[o]) for o in OBSERVATIONS)))
        truth.append({"image_id": path, **case.truth_record()})
    return {"split": split, "rows": rows, "truth": truth}


def write(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1, progress: Progress | None = None,
          valid_share: float = 0.12, hard: HardFinding | None = None) -> int:
    """Write ``n`` synthetic studies (a ``valid_share`` of the patients in ``valid``, 20% with a lateral); returns
    the image count. ``hard``: one finding drawn with less contrast in one sex (off by default; see ``make_case``)."""
    root = Path(root)
    rng = np.random.default_rng([seed, 102])
    items, patient = [], 0
    while len(items) < n:
        patient += 1
        split = "valid" if rng.random() < valid_share else "train"
        for study in range(1, min(int(rng.integers(1, 3)), n - len(items)) + 1):
            items.append((str(root), seed, len(items), size, split, patient, study, bool(rng.random() < 0.2), hard))
    rows = map_cases(_render, items, label="chexpert", workers=workers, progress=progress)
    write_truth(root, [t for row in rows for t in row["truth"]])
    for split in ("valid", "train"):
        write_csv(root / f"{split}.csv", COLUMNS, [r for row in rows if row["split"] == split for r in row["rows"]])
    return sum(len(row["rows"]) for row in rows)
