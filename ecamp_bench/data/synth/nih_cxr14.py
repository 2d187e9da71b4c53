"""Write synthetic images in the NIH ChestX-ray14 release layout (Data_Entry CSV, images_NNN/images, lists, boxes).

Labels come from what was drawn (the synthetic truth), mapped onto the 14 NIH findings: consolidation by
severity → ``Infiltration`` (mild), ``Pneumonia`` (moderate), ``Consolidation`` (severe); effusion →
``Pleural_Thickening`` (mild) or ``Effusion``; nodule → ``Mass`` (masses) or ``Nodule``; atelectasis, edema,
cardiomegaly and pneumothorax → their namesakes. The generator cannot draw emphysema, fibrosis or hernia: these
three labels are assigned at random (10 % each) so the label space and file format are complete; they carry no
pixel evidence, so their AUC is chance by construction. About a quarter of the patients form ``test_list.txt``;
``BBox_List_2017.csv`` holds the opacity boxes of test images labelled ``Infiltrate`` or ``Pneumonia``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecamp_bench.data.synth.case import HardFinding, make_case
from ecamp_bench.data.synth.parallel import Progress, map_cases
from ecamp_bench.data.synth.truth import write_truth
from ecamp_bench.data.synth.writers import atomic_write_bytes, write_csv

ENTRY = "Data_Entry_2017_v2020.csv"
COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
           "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]")
BBOX_COLUMNS = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")
IMAGE_FOLDERS = 12  # images_001 … images_012, filled in order as in the release
UNDRAWN = ("Emphysema", "Fibrosis", "Hernia")
UNDRAWN_RATE = 0.1
TEST_SHARE = 0.25


def nih_findings(records: list[dict]) -> set[str]:
    """The NIH finding names of a case's drawn truth records (see the module docstring)."""
    names: set[str] = set()
    for record in records:
        kind, severity = record["kind"], record.get("severity")
        if kind == "consolidation":
            names.add({"mild": "Infiltration", "moderate": "Pneumonia"}.get(severity, "Consolidation"))
        elif kind == "effusion":
            names.add("Pleural_Thickening" if severity == "mild" else "Effusion")
        elif kind == "nodule":
            names.add("Mass" if record.get("mass") else "Nodule")
        elif kind in ("atelectasis", "edema", "cardiomegaly", "pneumothorax"):
            names.add(kind.capitalize())
    return names


def _render(item: tuple) -> dict:
    from PIL import Image

    root, seed, index, n, size, patient, follow_up, split, undrawn, hard, conspicuity = item
    case = make_case(seed, "nih", index, size, hard=hard, conspicuity=conspicuity)
    name = f"{patient:08d}_{follow_up:03d}.png"
    folder = Path(root) / f"images_{1 + index * IMAGE_FOLDERS // n:03d}" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(case.frontal, mode="L").save(folder / name, format="PNG", compress_level=1)
    findings = sorted(nih_findings(case.truth.records) | set(undrawn))
    boxes = []
    if split == "test":
        for record in case.truth.records:
            if record["kind"] == "consolidation" and record["severity"] in ("mild", "moderate"):
                x1, y1, x2, y2 = record["box"]
                label = "Infiltrate" if record["severity"] == "mild" else "Pneumonia"
                boxes.append((name, label, x1, y1, x2 - x1, y2 - y1))
    row = (name, "|".join(findings) or "No Finding", follow_up, patient, case.age, case.sex[0], case.view, size, size,
           0.143, 0.143)
    return {"row": row, "split": split, "boxes": boxes, "truth": {"image_id": name, **case.truth_record()}}


def write(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1, progress: Progress | None = None,
          hard: HardFinding | None = None, conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic images (1-3 per patient, a quarter of the patients in the test list); returns ``n``.
    ``hard``, ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    root = Path(root)
    rng = np.random.default_rng([seed, 105])
    items, patient = [], 0
    while len(items) < n:
        patient += 1
        split = "test" if rng.random() < TEST_SHARE else "train_val"
        for follow_up in range(min(int(rng.integers(1, 4)), n - len(items))):
            undrawn = tuple(label for label in UNDRAWN if rng.random() < UNDRAWN_RATE)
            items.append((str(root), seed, len(items), n, size, patient, follow_up, split, undrawn, hard, conspicuity))
    rows = map_cases(_render, items, label="nih-cxr14", workers=workers, progress=progress)
    write_truth(root, [row["truth"] for row in rows])
    write_csv(root / "BBox_List_2017.csv", BBOX_COLUMNS, [b for row in rows for b in row["boxes"]])
    for file_name, split in (("train_val_list.txt", "train_val"), ("test_list.txt", "test")):
        names = sorted(row["row"][0] for row in rows if row["split"] == split)
        atomic_write_bytes(root / file_name, "".join(f"{name}\n" for name in names).encode("utf-8"))
    write_csv(root / ENTRY, COLUMNS, [row["row"] for row in rows])
    return len(rows)
