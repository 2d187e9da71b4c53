"""Write synthetic studies in the MIMIC-CXR-JPG 2.0.0 layout (+ the MIMIC-CXR report files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecamp_bench.data.synth.case import case_rng, make_case
from ecamp_bench.data.synth.parallel import Progress, map_cases
from ecamp_bench.data.synth.reports import mimic_report_text
from ecamp_bench.data.synth.truth import write_truth
from ecamp_bench.data.synth.writers import fmt_label, save_jpeg, write_csv

METADATA = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT = "mimic-cxr-2.0.0-split.csv.gz"
CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv.gz"
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning")
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
LABEL_COLUMNS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
                 "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
                 "Pneumothorax", "Support Devices")
CHEXPERT_COLUMNS = ("subject_id", "study_id", *LABEL_COLUMNS)


def study_dir(root: Path, subject_id: int, study_id: int) -> Path:
    """``root/files/pNN/pSUBJECT/sSTUDY`` (the folder of a study's JPGs; the report is this path + ``.txt``)."""
    return root / "files" / f"p{str(subject_id)[:2]}" / f"p{subject_id}" / f"s{study_id}"


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(rng.bytes(4).hex() for _ in range(5))


def _render(item: tuple) -> dict:
    root, seed, index, size, subject_id, study_id, ids, split = item
    case = make_case(seed, "mimic", index, size, lateral=len(ids) > 1)
    rng = case_rng(seed, "mimic", index + 1_000_000)
    folder = study_dir(Path(root), subject_id, study_id)
    save_jpeg(folder / f"{ids[0]}.jpg", case.frontal)
    if case.lateral is not None:
        save_jpeg(folder / f"{ids[1]}.jpg", case.lateral)
    text = mimic_report_text(case.report, rng, case.view, case.sex, omit_findings=rng.random() < 0.08)
    folder.with_suffix(".txt").write_text(text, encoding="utf-8")
    date = 21000101 + int(rng.integers(0, 80)) * 10000 + int(rng.integers(0, 12)) * 100 + int(rng.integers(0, 28))
    time = f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}{int(rng.integers(0, 60)):02d}.{int(rng.integers(0, 1000)):03d}"
    procedure = "CHEST (PORTABLE AP)" if case.view == "AP" else "CHEST (PA AND LAT)"
    views = [(case.view, "antero-posterior" if case.view == "AP" else "postero-anterior"), ("LATERAL", "lateral")]
    orientation = "Recumbent" if case.view == "AP" else "Erect"
    metadata = [(dicom_id, subject_id, study_id, procedure, view, size, size, date, time, procedure, meaning, orientation)
                for dicom_id, (view, meaning) in zip(ids, views)]
    labels = [fmt_label(case.report.labels[name]) for name in LABEL_COLUMNS]
    truth = [{"image_id": dicom_id, "study_id": str(study_id), **case.truth_record()} for dicom_id in ids]
    return {"metadata": metadata, "split": [(d, study_id, subject_id, split) for d in ids],
            "chexpert": (subject_id, study_id, *labels), "truth": truth}


def write(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1, progress: Progress | None = None) -> int:
    """Write ``n`` synthetic studies (frontal, 30% with a lateral) under ``root``; returns the number of images."""
    root = Path(root)
    rng = np.random.default_rng([seed, 101])
    items, subject, study = [], 10000000 + int(rng.integers(0, 9_000_000)), 50000000
    while len(items) < n:
        subject += int(rng.integers(1, 400))
        split = str(rng.choice(["train", "validate", "test"], p=[0.8, 0.1, 0.1]))
        for _ in range(min(int(rng.integers(1, 4)), n - len(items))):
            study += int(rng.integers(1, 5000))
            ids = tuple(_dicom_id(rng) for _ in range(2 if rng.random() < 0.3 else 1))
            items.append((str(root), seed, len(items), size, subject, study, ids, split))
    rows = map_cases(_render, items, label="mimic-cxr", workers=workers, progress=progress)
    write_csv(root / SPLIT, SPLIT_COLUMNS, [r for row in rows for r in row["split"]], gzipped=True)
    write_csv(root / CHEXPERT, CHEXPERT_COLUMNS, sorted(row["chexpert"] for row in rows), gzipped=True)
    write_truth(root, [t for row in rows for t in row["truth"]])
    write_csv(root / METADATA, METADATA_COLUMNS, [r for row in rows for r in row["metadata"]], gzipped=True)
    return sum(len(row["metadata"]) for row in rows)
