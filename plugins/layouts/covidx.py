"""Adapter for the COVIDx CXR releases (Wang, Lin & Wong, COVID-Net, Sci. Rep. 2020; lindawangg/COVID-Net).

A release is a set of list files and image folders: ``train.txt`` and ``test.txt`` (CXR-2 and CXR-3 on Kaggle),
plus ``val.txt`` from CXR-4 on; the older GitHub label files ``train_COVIDx7A.txt``/``test_COVIDx7A.txt`` (…8A,
9A, CXR-3A) are accepted when no ``train.txt``/``test.txt`` exists. Images are in ``train/``, ``val/`` (or
``train/``) and ``test/``. Each line is ``patient_id filename class [data_source]``; patient ids may contain
spaces (``COVID 70 COVID(70).png COVID-19 sirm``), the oldest lines have no data source. The class names depend on
the release: ``normal`` / ``pneumonia`` / ``COVID-19`` for the three-class releases (COVIDx v5–v9A, CXR-3A) and
``negative`` / ``positive`` for the binary ones that dropped normal-vs-pneumonia (v6B…, CXR-2, CXR-3B, CXR-4).

One sample per listed image: labels one-hot over the release's classes (``meta["classes"]``, in the order of
:data:`THREE_CLASS` or :data:`BINARY`), ``split`` = ``train``/``val``/``test`` from the list it is in.
"""

from __future__ import annotations

from pathlib import Path

from ecamp_bench.data.image_check import CheckOptions, ImageChecks
from ecamp_bench.data.layouts._scan import read_table, validate_tree
from ecamp_bench.data.layouts._csv import Problems
from ecamp_bench.data.layouts._images import check_image
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.specs import Problem

NAME = "covidx-cxr"
SUBDIR = "covidx-cxr"
THREE_CLASS = ("normal", "pneumonia", "COVID-19")
BINARY = ("negative", "positive")
RELEASES = {"three-class": THREE_CLASS, "binary": BINARY}
SPLITS = ("train", "val", "test")
IMAGE_FOLDERS = {"train": ("train",), "val": ("val", "train"), "test": ("test",)}


def list_file(root: Path, split: str) -> Path | None:
    """The list file of ``split``: ``<split>.txt``, else the single ``<split>_COVIDx*.txt`` (GitHub label files)."""
    root = Path(root)
    if (root / f"{split}.txt").is_file():
        return root / f"{split}.txt"
    legacy = sorted(root.glob(f"{split}_COVIDx*.txt"))
    return legacy[0] if len(legacy) == 1 else None


def detect(root: Path) -> bool:
    """Whether ``root`` holds a train and a test list file."""
    return list_file(root, "train") is not None and list_file(root, "test") is not None


def parse_line(line: str) -> tuple[str, str, str, str | None] | str:
    """``(patient_id, filename, class, data_source)`` of a list line, or an error message.

    The class is the last token that names a class of any release; the filename is the token before it and the
    patient id everything before that (it may contain spaces); what follows the class is the data source.
    """
    tokens = line.split()
    known = set(THREE_CLASS) | set(BINARY)
    position = max((i for i, t in enumerate(tokens) if t in known), default=None)
    if position is None:
        guess = tokens[2] if len(tokens) == 3 else (tokens[-2] if len(tokens) > 3 else None)
        valid = f"{', '.join(THREE_CLASS)} (three-class releases) or {', '.join(BINARY)} (binary releases)"
        if guess is None:
            return f"expected 'patient_id filename class [data_source]', got {len(tokens)} field(s)"
        return f"unknown class name {guess!r}; valid: {valid}"
    if position < 2:
        return "expected 'patient_id filename class [data_source]': no patient id or filename before the class"
    source = " ".join(tokens[position + 1 :]) or None
    return " ".join(tokens[: position - 1]), tokens[position - 1], tokens[position], source


def _find_image(root: Path, split: str, filename: str) -> Path:
    candidates = [Path(root) / folder / filename for folder in IMAGE_FOLDERS[split]]
    return next((p for p in candidates if p.is_file()), candidates[0])


def _scan(root: Path, problems: Problems, images: ImageChecks | None) -> list[Sample]:
    root = Path(root)
    entries: list[tuple[Path, int, str, tuple]] = []
    for split in SPLITS:
        path = list_file(root, split)
        if path is None:
            if split != "val":
                problems.add(root / f"{split}.txt", "required file is missing", code="missing-file")
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            parsed = parse_line(line)
            if isinstance(parsed, str):
                problems.add(path, parsed, row=number, key="class" if "class name" in parsed else None,
                             code="unknown-class" if "class name" in parsed else "invalid")
                continue
            entries.append((path, number, split, parsed))
    release = _release(entries, problems)
    seen_image: dict[str, tuple[Path, int]] = {}
    patient_split: dict[str, tuple[str, Path, int]] = {}
    samples = []
    for path, number, split, (patient, filename, name, source) in entries:
        if filename in seen_image:
            first = seen_image[filename]
            problems.add(path, f"image {filename} is also listed in {first[0].name} (line {first[1]})", row=number,
                         key="filename", code="image-in-several-lists")
            continue
        seen_image[filename] = (path, number)
        other = patient_split.setdefault(patient, (split, path, number))
        if other[0] != split:
            problems.add(path, f"patient {patient!r} is also in {other[1].name} (line {other[2]}); the official lists "
                         "are split by patient", row=number, key="patient_id", code="patient-in-several-lists")
            continue
        image = _find_image(root, split, filename)
        if not check_image(image, path, number, "filename", problems, images):
            continue
        if release is None or name not in release:
            continue
        samples.append(Sample(image_id=filename, image_path=image, patient_id=patient,
                              labels={c: float(c == name) for c in release}, split=split,
                              meta={"classes": release, "class": name, "data_source": source}))
    return samples


def _release(entries: list, problems: Problems) -> tuple[str, ...] | None:
    """The class tuple of the release the lines belong to; lines of the other kind are problems."""
    counts = {kind: sum(e[3][2] in classes for e in entries) for kind, classes in RELEASES.items()}
    kind = max(counts, key=counts.get)
    if not counts[kind]:
        return None
    for path, number, _, parsed in entries:
        if parsed[2] not in RELEASES[kind]:
            problems.add(path, f"class {parsed[2]!r} belongs to a {'binary' if kind != 'binary' else 'three-class'} "
                         f"release, but the other lines are {kind} ({', '.join(RELEASES[kind])})", row=number,
                         key="class", code="mixed-release")
    return RELEASES[kind]


def read(root: Path) -> SampleTable:
    """One sample per listed image (one-hot labels over the release's classes); the first problem raises."""
    return read_table(NAME, root, _scan)


def validate(root: Path, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem (missing lists, malformed lines, unknown or mixed classes, missing images, list overlaps)."""
    return validate_tree(root, _scan, options)
