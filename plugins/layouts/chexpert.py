"""CheXpert-v1.0(-small) in one module: the reader of its official layout, its synthetic writer and its spec.

The layout: ``train.csv``/``valid.csv`` and the JPEG tree they point to. ``Path`` cells look like
``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`` (relative to the folder *above* the root).
``valid.csv`` is the official test set. Labels are the raw 14 observations (1.0 / 0.0 / -1.0 uncertain / NaN
blank); :func:`apply_uncertainty_policy` maps them for training.

:func:`write_synthetic` writes synthetic studies in the same layout: labels of ``train.csv`` from the synthetic
report, of ``valid.csv`` (the radiologists' consensus in the release) from what was drawn.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.api import LayoutSpec, hookimpl
from ecamp_bench.data.layout_kit.csv_rows import Problems, SeenIds, line_of, parse_float, read_csv
from ecamp_bench.data.layout_kit.image_files import check_image
from ecamp_bench.data.layout_kit.scan import read_table, validate_tree
from ecamp_bench.errors import ConfigError
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported by the functions that read or write, so that registering stays cheap
    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.data.synth.case import HardFinding
    from ecamp_bench.data.synth.parallel import Progress

NAME = "chexpert"
SUBDIR = "CheXpert-v1.0-small"
OBSERVATIONS = ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                "Fracture", "Support Devices")
COMPETITION_LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *OBSERVATIONS)
SPLITS = ("train", "valid")
# The published default (Irvin et al. 2019): U-Ones for these three, U-Zeros for the other two.
DEFAULT_POLICY = {"Atelectasis": "ones", "Edema": "ones", "Pleural Effusion": "ones", "Cardiomegaly": "zeros",
                  "Consolidation": "zeros"}
POLICIES = ("ones", "zeros", "ignore")
_PATIENT = re.compile(r"^patient\d+$")


def detect(root: Path) -> bool:
    """Whether ``root`` holds ``train.csv`` or ``valid.csv`` (a missing image folder is reported by ``read`` and
    ``validate``, naming it)."""
    root = Path(root)
    return any((root / f"{s}.csv").is_file() for s in SPLITS)


def resolve_path(root: Path, cell: str) -> Path:
    """The file a ``Path`` cell points to: its leading dataset folder name is replaced by ``root``."""
    parts = Path(cell).parts
    return Path(root).joinpath(*(parts[1:] if parts and parts[0] not in SPLITS else parts))


def _top_folder(root: Path, cell: str) -> str | None:
    """The first folder below ``root`` of the file a ``Path`` cell names (``train``/``valid``), if any."""
    parts = resolve_path(root, cell).relative_to(root).parts
    return parts[0] if len(parts) > 1 else None


def _scan(root: Path, problems: Problems, images: ImageChecks | None) -> list[Sample]:
    from ecamp_bench.data.samples import Sample

    root = Path(root)
    samples = []
    seen = SeenIds("Path")
    for split in SPLITS:
        path = root / f"{split}.csv"
        frame = read_csv(path, COLUMNS, problems)
        if frame is None:
            continue
        named = Counter(_top_folder(root, cell) for cell in frame["Path"])
        absent = sorted(f for f in named if f is not None and not (root / f).is_dir())
        for folder in absent:
            problems.add(root / folder, f"image folder not found ({path.name} names {named[folder]} images in it)",
                         code="missing-folder")
        for index, row in enumerate(frame.to_dict("records")):
            line, cell = line_of(index), row["Path"]
            if seen.repeated(cell, path, line, problems):
                continue
            patient = next((p for p in Path(cell).parts if _PATIENT.match(p)), None)
            if patient is None:
                problems.add(path, f"Path {cell!r} has no patientNNNNN folder", row=line, key="Path")
                continue
            try:
                labels = {name: parse_float(row[name]) for name in OBSERVATIONS}
            except ValueError:
                bad = next(n for n in OBSERVATIONS if row[n] not in ("", "1.0", "0.0", "-1.0", "1", "0", "-1"))
                problems.add(path, f"label is not 1.0/0.0/-1.0/blank: {row[bad]!r}", row=line, key=bad)
                continue
            image = resolve_path(root, cell)
            if _top_folder(root, cell) in absent:
                continue  # reported once for the folder
            if not check_image(image, path, line, "Path", problems, images):
                continue
            parts = Path(cell).parts
            study = "/".join(parts[parts.index(patient) : parts.index(patient) + 2])
            samples.append(Sample(image_id=cell, image_path=image, patient_id=patient, study_id=study,
                                  view=row["Frontal/Lateral"] or None, labels=labels, split=split,
                                  meta={"ap_pa": row["AP/PA"] or None, "sex": row["Sex"], "age": row["Age"]}))
    return samples


def read(root: Path) -> SampleTable:
    """All rows of ``train.csv`` and ``valid.csv`` (raw labels); the first problem raises :class:`DataError`."""
    return read_table(NAME, root, _scan)


def validate(root: Path, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem of the tree (missing files/columns/images, bad labels or paths, unreadable JPEGs)."""
    return validate_tree(root, _scan, options)


def frontal_only(table: SampleTable) -> SampleTable:
    """The frontal images only (``Frontal/Lateral == "Frontal"``)."""
    return table.filter(lambda s: s.view == "Frontal")


def apply_uncertainty_policy(table: SampleTable, policy: dict[str, str] | None = None) -> SampleTable:
    """Map uncertain (-1) labels by ``policy`` (label → ``ones``/``zeros``/``ignore``) and blanks to 0.

    The default is the published one: U-Ones for Atelectasis, Edema and Pleural Effusion; U-Zeros for
    Cardiomegaly and Consolidation. ``ignore`` turns -1 into NaN (excluded from loss and metric). Labels
    not named in the policy are left as they are.
    """
    policy = dict(DEFAULT_POLICY if policy is None else policy)
    for label, choice in policy.items():
        if label not in OBSERVATIONS:
            raise ConfigError(f"uncertainty policy names unknown label {label!r}; valid: {', '.join(OBSERVATIONS)}")
        if choice not in POLICIES:
            raise ConfigError(f"uncertainty policy for {label!r} is {choice!r}; valid: {', '.join(POLICIES)}")
    uncertain = {"ones": 1.0, "zeros": 0.0, "ignore": math.nan}

    def change(sample: Sample) -> Sample:
        labels = dict(sample.labels)
        for label, choice in policy.items():
            value = labels.get(label, math.nan)
            labels[label] = 0.0 if math.isnan(value) else (uncertain[choice] if value == -1.0 else value)
        return sample.with_labels(labels)

    return table.map(change)


# ---- synthetic writer ---------------------------------------------------------------------------------------

#: Studies per synthetic size (see the package docstring); the demo sizes' ``valid`` is 15 % of the patients.
SYNTHETIC_COUNTS = {"tiny": 48, "small": 400, "demo": 4000, "gpu-demo": 4000, "medium": 6000}
SYNTHETIC_OPTIONS = {"demo": {"valid_share": 0.15}, "gpu-demo": {"valid_share": 0.15}}


def _render(item: tuple) -> dict:
    from ecamp_bench.data.synth.case import make_case
    from ecamp_bench.data.synth.truth import drawn_observations
    from ecamp_bench.data.synth.writers import fmt_label, save_jpeg

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
        path = f"{SUBDIR}/{relative}/{name}"
        rows.append((path, case.sex, case.age, frontal_lateral, ap_pa, *(fmt_label(labels[o]) for o in OBSERVATIONS)))
        truth.append({"image_id": path, **case.truth_record()})
    return {"split": split, "rows": rows, "truth": truth}


def write_synthetic(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1,
                    progress: Progress | None = None, valid_share: float = 0.12,
                    hard: HardFinding | None = None) -> int:
    """Write ``n`` synthetic studies (a ``valid_share`` of the patients in ``valid``, 20% with a lateral); returns
    the image count. ``hard``: one finding drawn with less contrast in one sex (off by default; see ``make_case``)."""
    import numpy as np

    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.writers import write_csv

    root = Path(root)
    rng = np.random.default_rng([seed, 102])
    items, patient = [], 0
    while len(items) < n:
        patient += 1
        split = "valid" if rng.random() < valid_share else "train"
        for study in range(1, min(int(rng.integers(1, 3)), n - len(items)) + 1):
            items.append((str(root), seed, len(items), size, split, patient, study, bool(rng.random() < 0.2), hard))
    rows = render_cases(_render, items, root, label="chexpert", workers=workers, progress=progress)
    for split in ("valid", "train"):
        write_csv(root / f"{split}.csv", COLUMNS, [r for row in rows if row["split"] == split for r in row["rows"]])
    return sum(len(row["rows"]) for row in rows)


# ---- spec ---------------------------------------------------------------------------------------------------

@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """CheXpert-v1.0-small."""
    return [LayoutSpec(name=NAME, description="CheXpert-v1.0-small (train.csv / valid.csv, 14 observations)",
                       citation="Irvin et al., CheXpert, AAAI 2019", detect=detect, read=read, validate=validate,
                       write_synthetic=write_synthetic, subdir=SUBDIR, synthetic_counts=SYNTHETIC_COUNTS,
                       synthetic_options=SYNTHETIC_OPTIONS)]
