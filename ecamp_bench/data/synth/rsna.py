"""Write synthetic cases in the RSNA Pneumonia Detection Challenge (stage 2) layout."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from ecamp_bench.data.synth.case import make_case
from ecamp_bench.data.synth.parallel import Progress, map_cases
from ecamp_bench.data.synth.truth import write_truth
from ecamp_bench.data.synth.writers import make_uid, write_csv, write_dicom

LABELS = "stage_2_train_labels.csv"
CLASSES = "stage_2_detailed_class_info.csv"
IMAGES = "stage_2_train_images"


def _render(item: tuple) -> dict:
    root, seed, index, size, patient_id, conspicuity = item
    case = make_case(seed, "rsna", index, size, conspicuity=conspicuity)
    write_dicom(Path(root) / IMAGES / f"{patient_id}.dcm", case.frontal,
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


def write(root: Path, n: int, seed: int, *, size: int = 256, workers: int = 1, progress: Progress | None = None,
          conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic patients (one DICOM each) under ``root``; returns the number of images.
    ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    root = Path(root)
    rng = np.random.default_rng([seed, 103])
    items = [(str(root), seed, i, size, str(uuid.UUID(bytes=rng.bytes(16), version=4)), conspicuity)
             for i in range(n)]
    rows = map_cases(_render, items, label="rsna-pneumonia", workers=workers, progress=progress)
    write_truth(root, [row["truth"] for row in rows])
    write_csv(root / CLASSES, ("patientId", "class"), [r for row in rows for r in row["classes"]])
    write_csv(root / LABELS, ("patientId", "x", "y", "width", "height", "Target"), [r for row in rows for r in row["labels"]])
    return len(rows)
