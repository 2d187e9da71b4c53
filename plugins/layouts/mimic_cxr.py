"""Adapter for MIMIC-CXR-JPG 2.0.0 with the MIMIC-CXR reports placed in the same ``files/`` tree.

Images are ``files/pNN/pSUBJECT/sSTUDY/DICOMID.jpg`` and reports ``files/pNN/pSUBJECT/sSTUDY.txt``; the
``mimic-cxr-2.0.0-{metadata,split}.csv.gz`` files give views and splits, and the optional
``mimic-cxr-2.0.0-chexpert.csv.gz`` the 14 CheXpert-labeler labels per study (pre-training needs no labels: without
the file every sample has empty labels, and ``validate`` does not count its absence as a problem). One sample per JPG; the report text is FINDINGS + IMPRESSION (see ``data/reports.py``).

Demographics (optional): MIMIC-CXR has none, but MIMIC-IV's ``hosp/patients.csv(.gz)`` (``subject_id``, ``gender``,
``anchor_age``) shares its ``subject_id``s. Placed in the root, it gives every sample ``meta["sex"]`` (``F``/``M``)
and ``meta["age"]`` (``anchor_age``: the age in the patient's anchor year, MIMIC-IV's only age field).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ecamp_bench.data.image_check import CheckOptions, ImageChecks
from ecamp_bench.data.layouts._scan import read_table, validate_tree
from ecamp_bench.data.layouts._csv import Problems, SeenIds, line_of, parse_float, read_csv
from ecamp_bench.data.layouts._images import check_image
from ecamp_bench.data.reports import ReportParseSummary, ReportSections, parse_report
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.specs import Problem

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
            problems.add(path, f"Rows/Columns are not integers: {row['Rows']!r}, {row['Columns']!r}", row=line, key="Rows")
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


def report_parse_summary(samples: Iterable[Sample]) -> ReportParseSummary:
    """How the reports of ``samples`` were parsed (one count per study; see :class:`ReportParseSummary`)."""
    seen: dict[str, tuple[str, str]] = {}
    for sample in samples:
        if "report_source" in sample.meta and sample.study_id not in seen:
            seen[sample.study_id] = (sample.meta["report_source"], sample.meta["report_path"])
    return ReportParseSummary.of(seen.values())


def frontal_only(table: SampleTable) -> SampleTable:
    """The PA/AP images only (what ECAMP pre-trains on)."""
    return table.filter(lambda s: s.view in FRONTAL_VIEWS)
