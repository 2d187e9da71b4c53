"""The RSNA Pneumonia Detection Challenge (stage 2) in one module: the reader of its official layout, its synthetic
writer and its spec.

``stage_2_train_labels.csv`` has one row per box (``patientId,x,y,width,height,Target``; a negative has one
row with empty box fields); ``stage_2_detailed_class_info.csv`` gives each row's class; images are
``stage_2_train_images/<patientId>.dcm``. One sample per patient, boxes converted to ``(x1, y1, x2, y2)``.

:func:`write_synthetic` writes synthetic patients in the same layout (one DICOM each, a box per drawn opacity).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.api import LayoutSpec, hookimpl
from ecamp_bench.data.layout_kit.csv_rows import Problems, line_of, parse_float, read_csv
from ecamp_bench.data.layout_kit.scan import read_table, validate_tree
from ecamp_bench.errors import DataError
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported by the functions that read or write, so that registering stays cheap
    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.data.synth.parallel import Progress

NAME = "rsna-pneumonia"
SUBDIR = "rsna-pneumonia-detection-challenge"
LABELS_FILE = "stage_2_train_labels.csv"
CLASS_FILE = "stage_2_detailed_class_info.csv"
IMAGES_DIR = "stage_2_train_images"
TEST_IMAGES_DIR = "stage_2_test_images"  # the 3,000 unlabelled stage-2 test images (MRM/ECAMP test lists label them)
LABEL = "Pneumonia"
COLUMNS = ("patientId", "x", "y", "width", "height", "Target")


def detect(root: Path) -> bool:
    """Whether ``root`` holds the RSNA labels file."""
    return (Path(root) / LABELS_FILE).is_file()


def _parse_rows(path: Path, frame, problems: Problems) -> dict[str, dict]:
    patients: dict[str, dict] = {}
    for index, row in enumerate(frame.itertuples(index=False)):
        line = line_of(index)
        entry = patients.setdefault(row.patientId, {"line": line, "target": None, "boxes": [], "box_lines": []})
        if not row.patientId:
            problems.add(path, "empty patientId", row=line, key="patientId")
            continue
        if row.Target not in ("0", "1"):
            problems.add(path, f"Target must be 0 or 1, got {row.Target!r}", row=line, key="Target")
            continue
        target = int(row.Target)
        if entry["target"] is not None and entry["target"] != target:
            problems.add(path, f"patient {row.patientId} has rows with Target 0 and 1", row=line, key="Target")
        entry["target"] = target
        try:
            x, y, w, h = (parse_float(v) for v in (row.x, row.y, row.width, row.height))
        except ValueError:
            problems.add(path, f"box fields are not numbers: {row.x!r}, {row.y!r}, {row.width!r}, {row.height!r}",
                         row=line, key="x")
            continue
        blank = [math.isnan(v) for v in (x, y, w, h)]
        if target == 0 and not all(blank):
            problems.add(path, "a Target 0 row must have empty box fields", row=line, key="x")
        elif target == 1 and any(blank):
            problems.add(path, "a Target 1 row needs x, y, width and height", row=line, key="x")
        elif target == 1 and (w <= 0 or h <= 0 or x < 0 or y < 0):
            problems.add(path, f"invalid box x={x}, y={y}, width={w}, height={h}", row=line, key="width")
        elif target == 1:
            entry["boxes"].append((x, y, x + w, y + h))
            entry["box_lines"].append(line)
    return patients


def _classes(root: Path, problems: Problems) -> dict[str, str]:
    path = root / CLASS_FILE
    if not path.is_file():
        return {}
    frame = read_csv(path, ("patientId", "class"), problems)
    return {} if frame is None else dict(zip(frame["patientId"], frame["class"]))


def _scan(root: Path, problems: Problems, images: ImageChecks | None) -> list[Sample]:
    from ecamp_bench.data.images import read_dicom_header
    from ecamp_bench.data.samples import Sample

    root = Path(root)
    path = root / LABELS_FILE
    frame = read_csv(path, COLUMNS, problems)
    if frame is None:
        return []
    classes = _classes(root, problems)
    samples = []
    for patient_id, entry in _parse_rows(path, frame, problems).items():
        if not patient_id or entry["target"] is None:
            continue
        image = root / IMAGES_DIR / f"{patient_id}.dcm"
        if not image.is_file():
            problems.add(path, f"image file not found: {image}", row=entry["line"], key="patientId",
                         code="missing-image")
            continue
        try:
            header = read_dicom_header(image)
            height, width = int(header.Rows), int(header.Columns)
        except DataError as exc:
            problems.add(image, exc.message, row=entry["line"], code="unreadable-image")
            continue
        except AttributeError as exc:
            problems.add(image, f"DICOM header without Rows/Columns ({exc})", row=entry["line"],
                         code="unreadable-image")
            continue
        if images is not None:
            images.add(image, path, entry["line"], "patientId", header_read=True)
        for (x1, y1, x2, y2), line in zip(entry["boxes"], entry["box_lines"]):
            if x2 > width or y2 > height:
                problems.add(path, f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the {width}x{height} image "
                             f"{image.name}", row=line, key="x", code="box-outside-image")
        samples.append(Sample(image_id=patient_id, image_path=image, patient_id=patient_id,
                              view=str(getattr(header, "ViewPosition", "")) or None,
                              labels={LABEL: float(entry["target"])}, boxes=tuple(entry["boxes"]),
                              width=width, height=height, meta={"class": classes.get(patient_id)}))
    return samples


def read(root: Path) -> SampleTable:
    """One sample per patient (boxes grouped); the first problem raises :class:`DataError` naming file and row."""
    return read_table(NAME, root, _scan)


def validate(root: Path, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem of the tree (missing columns/files, bad rows, unreadable DICOM, boxes outside the image)."""
    return validate_tree(root, _scan, options)


# ---- synthetic writer ---------------------------------------------------------------------------------------

#: Patients per synthetic size (see the package docstring).
SYNTHETIC_COUNTS = {"tiny": 64, "small": 500, "demo": 2600, "gpu-demo": 2600, "medium": 8000}


def _render(item: tuple) -> dict:
    from ecamp_bench.data.synth.case import make_case
    from ecamp_bench.data.synth.writers import make_uid, write_dicom

    root, seed, index, size, patient_id, conspicuity = item
    case = make_case(seed, "rsna", index, size, conspicuity=conspicuity)
    write_dicom(Path(root) / IMAGES_DIR / f"{patient_id}.dcm", case.frontal,
                sop_uid=make_uid(seed, "rsna", index, "sop"), study_uid=make_uid(seed, "rsna", index, "study"),
                series_uid=make_uid(seed, "rsna", index, "series"), patient_id=patient_id, view=case.view,
                sex="M" if case.sex == "Male" else "F", age=case.age, description=f"view: {case.view}")
    boxes = case.truth.boxes
    if boxes:
        label_rows = [(patient_id, x1, y1, x2 - x1, y2 - y1, 1) for x1, y1, x2, y2 in boxes]
        kind = "Lung Opacity"
    else:
        label_rows = [(patient_id, "", "", "", "", 0)]
        disease = {r["kind"] for r in case.truth.records} - {"devices"}
        kind = "No Lung Opacity / Not Normal" if disease else "Normal"
    return {"labels": label_rows, "classes": [(patient_id, kind)] * len(label_rows),
            "truth": {"image_id": patient_id, **case.truth_record()}}


def write_synthetic(root: Path, n: int, seed: int, *, size: int = 256, workers: int = 1,
                    progress: Progress | None = None, conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic patients (one DICOM each) under ``root``; returns the number of images.
    ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    import uuid

    import numpy as np

    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.writers import write_csv

    root = Path(root)
    rng = np.random.default_rng([seed, 103])
    items = [(str(root), seed, i, size, str(uuid.UUID(bytes=rng.bytes(16), version=4)), conspicuity)
             for i in range(n)]
    rows = render_cases(_render, items, root, label="rsna-pneumonia", workers=workers, progress=progress)
    write_csv(root / CLASS_FILE, ("patientId", "class"), [r for row in rows for r in row["classes"]])
    write_csv(root / LABELS_FILE, COLUMNS, [r for row in rows for r in row["labels"]])
    return len(rows)


# ---- spec ---------------------------------------------------------------------------------------------------

@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """RSNA Pneumonia Detection Challenge, stage 2."""
    return [LayoutSpec(name=NAME, description="RSNA Pneumonia Detection Challenge stage 2 (boxes, DICOM)",
                       citation="Shih et al., Radiology: AI 2019", detect=detect, read=read, validate=validate,
                       write_synthetic=write_synthetic, subdir=SUBDIR, synthetic_counts=SYNTHETIC_COUNTS,
                       extra_image_folders=(TEST_IMAGES_DIR,))]
