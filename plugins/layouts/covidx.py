"""COVIDx CXR in one module: the reader of its releases' layout (Wang, Lin & Wong, COVID-Net, Sci. Rep. 2020;
lindawangg/COVID-Net), its synthetic writer and its spec.

A release is a set of list files and image folders: ``train.txt`` and ``test.txt`` (CXR-2 and CXR-3 on Kaggle),
plus ``val.txt`` from CXR-4 on; the older GitHub label files ``train_COVIDx7A.txt``/``test_COVIDx7A.txt`` (…8A,
9A, CXR-3A) are accepted when no ``train.txt``/``test.txt`` exists. Images are in ``train/``, ``val/`` (or
``train/``) and ``test/``. Each line is ``patient_id filename class [data_source]``; patient ids may contain
spaces (``COVID 70 COVID(70).png COVID-19 sirm``), the oldest lines have no data source. The class names depend on
the release: ``normal`` / ``pneumonia`` / ``COVID-19`` for the three-class releases (COVIDx v5–v9A, CXR-3A) and
``negative`` / ``positive`` for the binary ones that dropped normal-vs-pneumonia (v6B…, CXR-2, CXR-3B, CXR-4).

One sample per listed image: labels one-hot over the release's classes (``meta["classes"]``, in the order of
:data:`THREE_CLASS` or :data:`BINARY`), ``split`` = ``train``/``val``/``test`` from the list it is in.

:func:`write_synthetic` writes a three-class release (``train.txt``/``test.txt``, ``train/``, ``test/``). Each
patient's class is drawn first (normal 35 %, pneumonia 30 %, COVID-19 35 %) and decides what is drawn on top of the
background findings of the ``covidx`` profile: non-COVID pneumonia is one focal consolidation (unilateral, any
zone, moderate or severe); COVID-19 is bilateral lower-zone consolidation with a mild bilateral haze (ground
glass), the typical peripheral-basal pattern; normal adds nothing. Lines follow the release: ``patient_id filename
class data_source``, RSNA-sourced normal/pneumonia images named ``<patientId>.png``, COVID-19 images from ``sirm``
(patient ids with a space: ``COVID 12``) and ``ricord`` (1-3 images per patient). About a fifth of the patients
form the test list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.api import LayoutSpec, hookimpl
from ecamp_bench.data.layout_kit.csv_rows import Problems
from ecamp_bench.data.layout_kit.image_files import check_image
from ecamp_bench.data.layout_kit.scan import read_table, validate_tree
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported by the functions that read or write, so that registering stays cheap
    import numpy as np

    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.data.synth.findings import Finding
    from ecamp_bench.data.synth.parallel import Progress

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
    from ecamp_bench.data.samples import Sample

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


# ---- synthetic writer ---------------------------------------------------------------------------------------

#: Images per synthetic size (see the package docstring).
SYNTHETIC_COUNTS = {"tiny": 64, "small": 500, "demo": 2600, "gpu-demo": 2600, "medium": 8000}

CLASS_SHARES = (0.35, 0.3, 0.35)  # of THREE_CLASS
TEST_SHARE = 0.2


def class_findings(name: str, rng: np.random.Generator) -> tuple[Finding, ...]:
    """The findings that make a case of class ``name`` (see the module docstring)."""
    from ecamp_bench.data.synth.findings import Finding

    if name == "pneumonia":
        return (Finding("consolidation", str(rng.choice(["right", "left"])),
                        str(rng.choice(["upper", "middle", "lower"])), str(rng.choice(["moderate", "severe"]))),)
    if name == "COVID-19":
        return (Finding("consolidation", "bilateral", "lower", str(rng.choice(["mild", "moderate"]))),
                Finding("edema", "bilateral", None, "mild"))
    return ()


def _render(item: tuple) -> dict:
    from PIL import Image

    from ecamp_bench.data.synth.case import make_case

    root, seed, index, size, split, patient, filename, name, source, extra, conspicuity = item
    case = make_case(seed, "covidx", index, size, extra=extra, conspicuity=conspicuity)
    folder = Path(root) / split
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(case.frontal, mode="L").save(folder / filename, format="PNG", compress_level=1)
    return {"split": split, "line": f"{patient} {filename} {name} {source}",
            "truth": {"image_id": filename, "class": name, **case.truth_record()}}


def write_synthetic(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1,
                    progress: Progress | None = None, conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic images as a three-class COVIDx release under ``root``; returns ``n``.
    ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    import uuid

    import numpy as np

    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.writers import atomic_write_bytes

    root = Path(root)
    rng = np.random.default_rng([seed, 106])
    items, patient = [], 0
    while len(items) < n:
        patient += 1
        name = THREE_CLASS[int(rng.choice(len(THREE_CLASS), p=CLASS_SHARES))]
        split = "test" if rng.random() < TEST_SHARE else "train"
        if name == "COVID-19":
            source = "sirm" if rng.random() < 0.3 else "ricord"
            patient_id = f"COVID {patient}" if source == "sirm" else f"SITE2-{patient:06d}"
            views = min(int(rng.integers(1, 4)), n - len(items))
        else:
            source, patient_id, views = "rsna", str(uuid.UUID(bytes=rng.bytes(16), version=4)), 1
        for view in range(views):
            if source == "rsna":
                filename = f"{patient_id}.png"
            elif source == "sirm":
                filename = f"COVID({patient}-{view}).png"
            else:
                filename = f"MIDRC-RICORD-1C-{patient_id}-{view:05d}-0.png"
            extra = class_findings(name, rng)
            items.append((str(root), seed, len(items), size, split, patient_id, filename, name, source, extra,
                          conspicuity))
    rows = render_cases(_render, items, root, label="covidx-cxr", workers=workers, progress=progress)
    for split in ("test", "train"):
        text = "".join(row["line"] + "\n" for row in rows if row["split"] == split)
        atomic_write_bytes(root / f"{split}.txt", text.encode("utf-8"))
    return len(rows)


# ---- spec ---------------------------------------------------------------------------------------------------

@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """COVIDx CXR."""
    return [LayoutSpec(name=NAME, description="COVIDx CXR release (train/val/test .txt lists 'patient_id filename "
                                              "class data_source', image folders)",
                       citation="Wang, Lin & Wong, COVID-Net, Scientific Reports 2020", detect=detect, read=read,
                       validate=validate, write_synthetic=write_synthetic, subdir=SUBDIR,
                       synthetic_counts=SYNTHETIC_COUNTS)]
