"""Adapter for CheXpert-v1.0(-small): ``train.csv``/``valid.csv`` and the JPEG tree they point to.

``Path`` cells look like ``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`` (relative to the
folder *above* the root). ``valid.csv`` is the official test set. Labels are the raw 14 observations
(1.0 / 0.0 / -1.0 uncertain / NaN blank); :func:`apply_uncertainty_policy` maps them for training.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

from ecamp_bench.data.image_check import CheckOptions, ImageChecks
from ecamp_bench.data.layouts._scan import read_table, validate_tree
from ecamp_bench.data.layouts._csv import Problems, SeenIds, line_of, parse_float, read_csv
from ecamp_bench.data.layouts._images import check_image
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.errors import ConfigError
from ecamp_bench.specs import Problem

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
