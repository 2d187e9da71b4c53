"""MIMIC-CXR-JPG 2.0.0 with the MIMIC-CXR reports in one module: the reader of the official layout (the reports
placed in the same ``files/`` tree), its synthetic writer and its spec.

Images are ``files/pNN/pSUBJECT/sSTUDY/DICOMID.jpg`` and reports ``files/pNN/pSUBJECT/sSTUDY.txt``; the
``mimic-cxr-2.0.0-{metadata,split}.csv.gz`` files give views and splits, and the optional
``mimic-cxr-2.0.0-chexpert.csv.gz`` the 14 CheXpert-labeler labels per study (pre-training needs no labels: without
the file every sample has empty labels, and ``validate`` does not count its absence as a problem). One sample per
JPG; the report text is FINDINGS + IMPRESSION (see ``data/reports.py``).

Demographics (optional): MIMIC-CXR has none, but MIMIC-IV's ``hosp/patients.csv(.gz)`` (``subject_id``, ``gender``,
``anchor_age``) shares its ``subject_id``s. Placed in the root, it gives every sample ``meta["sex"]`` (``F``/``M``)
and ``meta["age"]`` (``anchor_age``: the age in the patient's anchor year, MIMIC-IV's only age field).

:func:`write_synthetic` writes synthetic studies in the same layout (frontal, 30 % with a lateral), with a report
per study and the 14 labels of its synthetic report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.api import LayoutSpec, hookimpl
from ecamp_bench.data.layout_kit.csv_rows import Problems, SeenIds, line_of, parse_float, read_csv
from ecamp_bench.data.layout_kit.image_files import check_image
from ecamp_bench.data.layout_kit.scan import read_table, validate_tree
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported by the functions that read or write, so that registering stays cheap
    import numpy as np

    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.reports import ReportSections
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.data.synth.parallel import Progress

NAME = "mimic-cxr"
SUBDIR = "mimic-cxr-jpg/2.0.0"
METADATA = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT = "mimic-cxr-2.0.0-split.csv.gz"
CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv.gz"
PATIENTS = ("patients.csv.gz", "patients.csv")  # MIMIC-IV hosp module, optional
LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
          "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
          "Pneumothorax", "Support Devices")
METADATA_REQUIRED = ("dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns")
FRONTAL_VIEWS = ("PA", "AP")


def detect(root: Path) -> bool:
    """Whether ``root`` holds the MIMIC-CXR-JPG metadata file."""
    return (Path(root) / METADATA).is_file()


def study_folder(root: Path, subject_id: str, study_id: str) -> Path:
    """``root/files/pNN/pSUBJECT/sSTUDY``."""
    return Path(root) / "files" / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


def _labels(root: Path, problems: Problems) -> dict[str, dict[str, float]]:
    path = root / CHEXPERT
    if not path.is_file():
        return {}  # optional: see the module docstring
    frame = read_csv(path, ("subject_id", "study_id", *LABELS), problems)
    if frame is None:
        return {}
    table = {}
    for index, row in enumerate(frame.to_dict("records")):
        try:
            values = {name: parse_float(row[name]) for name in LABELS}
        except ValueError:
            bad = next(n for n in LABELS if row[n] not in ("", "1.0", "0.0", "-1.0", "1", "0", "-1"))
            problems.add(path, f"label is not 1.0/0.0/-1.0/blank: {row[bad]!r}", row=line_of(index), key=bad)
            continue
        table[row["study_id"]] = values
    return table


def patients(root: Path, problems: Problems) -> dict[str, dict[str, str]]:
    """``subject_id → {"sex", "age"}`` from MIMIC-IV's ``patients.csv(.gz)`` in ``root`` (``{}`` when absent)."""
    path = next((Path(root) / name for name in PATIENTS if (Path(root) / name).is_file()), None)
    if path is None:
        return {}
    frame = read_csv(path, ("subject_id", "gender", "anchor_age"), problems)
    if frame is None:
        return {}
    return {row["subject_id"]: {"sex": row["gender"], "age": row["anchor_age"]} for row in frame.to_dict("records")}


def _scan(root: Path, problems: Problems, images: ImageChecks | None) -> list[Sample]:
    from ecamp_bench.data.reports import parse_report
    from ecamp_bench.data.samples import Sample

    root = Path(root)
    path = root / METADATA
    metadata = read_csv(path, METADATA_REQUIRED, problems)
    split_frame = read_csv(root / SPLIT, ("dicom_id", "split"), problems)
    labels = _labels(root, problems)
    demographics = patients(root, problems)
    if metadata is None:
        return []
    splits = dict(zip(split_frame["dicom_id"], split_frame["split"])) if split_frame is not None else {}
    reports: dict[str, ReportSections | None] = {}
    samples = []
    seen = SeenIds("dicom_id")
    for index, row in enumerate(metadata.to_dict("records")):
        line, dicom_id, subject, study = line_of(index), row["dicom_id"], row["subject_id"], row["study_id"]
        if dicom_id and seen.repeated(dicom_id, path, line, problems):
            continue
        if not (subject.isdigit() and study.isdigit() and dicom_id):
            problems.add(path, f"bad ids: subject_id={subject!r}, study_id={study!r}, dicom_id={dicom_id!r}", row=line,
                         key="subject_id")
            continue
        folder = study_folder(root, subject, study)
        image = folder / f"{dicom_id}.jpg"
        if not check_image(image, path, line, "dicom_id", problems, images):
            continue
        if not (row["Rows"].isdigit() and row["Columns"].isdigit()):
            problems.add(path, f"Rows/Columns are not integers: {row['Rows']!r}, {row['Columns']!r}", row=line,
                         key="Rows")
            continue
        if split_frame is not None and dicom_id not in splits:
            problems.add(root / SPLIT, f"dicom_id {dicom_id} (metadata line {line}) has no split", key="dicom_id",
                         code="missing-split")
        report_file = folder.with_suffix(".txt")
        if study not in reports:
            reports[study] = parse_report(report_file.read_text(encoding="utf-8", errors="replace")) \
                if report_file.is_file() else None
            if reports[study] is None and not problems.strict:
                problems.add(report_file, "report file not found", code="missing-report")
        parsed = reports[study]
        meta = {"subject_id": subject}
        if parsed is not None:
            meta.update(report_source=parsed.source, report_path=str(report_file))
        samples.append(Sample(image_id=dicom_id, image_path=image, patient_id=subject, study_id=study,
                              view=row["ViewPosition"] or None, labels=dict(labels.get(study, {})),
                              width=int(row["Columns"]), height=int(row["Rows"]),
                              report=parsed.text if parsed is not None else None,
                              split=splits.get(dicom_id), meta={**meta, **demographics.get(subject, {})}))
    return samples


def read(root: Path) -> SampleTable:
    """One sample per JPG with labels, report and split; the first problem raises :class:`DataError`.

    A study without a report file gets ``report=None`` (``validate`` lists it as a problem).
    """
    return read_table(NAME, root, _scan)


def validate(root: Path, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem of the tree (missing files/columns/images/reports/splits, unreadable JPGs, bad labels)."""
    return validate_tree(root, _scan, options)


def frontal_only(table: SampleTable) -> SampleTable:
    """The PA/AP images only (what ECAMP pre-trains on)."""
    return table.filter(lambda s: s.view in FRONTAL_VIEWS)


# ---- synthetic writer ---------------------------------------------------------------------------------------

#: Studies per synthetic size (see the package docstring); ``gpu-demo`` adds pre-training studies.
SYNTHETIC_COUNTS = {"tiny": 40, "small": 400, "demo": 3000, "gpu-demo": 12000, "medium": 6000}

METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning")
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
CHEXPERT_COLUMNS = ("subject_id", "study_id", *LABELS)


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(rng.bytes(4).hex() for _ in range(5))


def _render(item: tuple) -> dict:
    from ecamp_bench.data.synth.case import case_rng, make_case
    from ecamp_bench.data.synth.reports import mimic_report_text
    from ecamp_bench.data.synth.writers import fmt_label, save_jpeg

    root, seed, index, size, subject_id, study_id, ids, split = item
    case = make_case(seed, "mimic", index, size, lateral=len(ids) > 1)
    rng = case_rng(seed, "mimic", index + 1_000_000)
    folder = study_folder(Path(root), str(subject_id), str(study_id))
    save_jpeg(folder / f"{ids[0]}.jpg", case.frontal)
    if case.lateral is not None:
        save_jpeg(folder / f"{ids[1]}.jpg", case.lateral)
    text = mimic_report_text(case.report, rng, case.view, case.sex, omit_findings=rng.random() < 0.08)
    folder.with_suffix(".txt").write_text(text, encoding="utf-8")
    date = 21000101 + int(rng.integers(0, 80)) * 10000 + int(rng.integers(0, 12)) * 100 + int(rng.integers(0, 28))
    time = (f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}{int(rng.integers(0, 60)):02d}"
            f".{int(rng.integers(0, 1000)):03d}")
    procedure = "CHEST (PORTABLE AP)" if case.view == "AP" else "CHEST (PA AND LAT)"
    views = [(case.view, "antero-posterior" if case.view == "AP" else "postero-anterior"), ("LATERAL", "lateral")]
    orientation = "Recumbent" if case.view == "AP" else "Erect"
    metadata = [(dicom_id, subject_id, study_id, procedure, view, size, size, date, time, procedure, meaning,
                 orientation) for dicom_id, (view, meaning) in zip(ids, views)]
    labels = [fmt_label(case.report.labels[name]) for name in LABELS]
    truth = [{"image_id": dicom_id, "study_id": str(study_id), **case.truth_record()} for dicom_id in ids]
    return {"metadata": metadata, "split": [(d, study_id, subject_id, split) for d in ids],
            "chexpert": (subject_id, study_id, *labels), "truth": truth}


def write_synthetic(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1,
                    progress: Progress | None = None) -> int:
    """Write ``n`` synthetic studies (frontal, 30% with a lateral) under ``root``; returns the number of images."""
    import numpy as np

    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.writers import write_csv

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
    rows = render_cases(_render, items, root, label="mimic-cxr", workers=workers, progress=progress)
    write_csv(root / SPLIT, SPLIT_COLUMNS, [r for row in rows for r in row["split"]], gzipped=True)
    write_csv(root / CHEXPERT, CHEXPERT_COLUMNS, sorted(row["chexpert"] for row in rows), gzipped=True)
    write_csv(root / METADATA, METADATA_COLUMNS, [r for row in rows for r in row["metadata"]], gzipped=True)
    return sum(len(row["metadata"]) for row in rows)


# ---- spec ---------------------------------------------------------------------------------------------------

@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """MIMIC-CXR-JPG 2.0.0 with the MIMIC-CXR reports."""
    return [LayoutSpec(name=NAME,
                       description="MIMIC-CXR-JPG 2.0.0 images + MIMIC-CXR reports (files/pNN/pSUBJECT/sSTUDY)",
                       citation="Johnson et al., MIMIC-CXR-JPG, PhysioNet 2019", detect=detect, read=read,
                       validate=validate, write_synthetic=write_synthetic, subdir=SUBDIR,
                       synthetic_counts=SYNTHETIC_COUNTS)]
