"""Adapter for the SIIM-ACR Pneumothorax Segmentation (stage 1) layout.

``train-rle.csv`` (header ``ImageId, EncodedPixels``; the real file has a space after the comma) holds one
row per pneumothorax region in the Kaggle relative, column-major RLE, ``-1`` for none. Images are
``dicom-images-train/<StudyUID>/<SeriesUID>/<ImageId>.dcm``. One sample per ImageId with all its rows.
"""

from __future__ import annotations

from pathlib import Path

from ecamp_bench.data.images import read_dicom_header
from ecamp_bench.data.image_check import CheckOptions, ImageChecks
from ecamp_bench.data.layouts._scan import read_table, validate_tree
from ecamp_bench.data.layouts._csv import Problems, line_of, read_csv
from ecamp_bench.data.rle import EMPTY, check_rle
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.errors import DataError
from ecamp_bench.specs import Problem

NAME = "siim-acr"
SUBDIR = "siim-acr-pneumothorax"
RLE_FILE = "train-rle.csv"
IMAGES_DIR = "dicom-images-train"
LABEL = "Pneumothorax"
COLUMNS = ("ImageId", "EncodedPixels")


def detect(root: Path) -> bool:
    """Whether ``root`` holds ``train-rle.csv`` and the ``dicom-images-train`` folder."""
    root = Path(root)
    return (root / RLE_FILE).is_file() and (root / IMAGES_DIR).is_dir()


def index_images(root: Path) -> dict[str, Path]:
    """Map ImageId (file stem) → path for every ``.dcm`` below ``dicom-images-train``."""
    return {p.stem: p for p in sorted((Path(root) / IMAGES_DIR).rglob("*.dcm"))}


def _scan(root: Path, problems: Problems, images: ImageChecks | None) -> list[Sample]:
    root = Path(root)
    path = root / RLE_FILE
    frame = read_csv(path, COLUMNS, problems)
    if frame is None:
        return []
    rows: dict[str, list[tuple[int, str]]] = {}
    for index, (image_id, rle) in enumerate(zip(frame["ImageId"], frame["EncodedPixels"])):
        if not image_id:
            problems.add(path, "empty ImageId", row=line_of(index), key="ImageId")
            continue
        rows.setdefault(image_id, []).append((line_of(index), rle))
    files = index_images(root)
    samples = []
    for image_id, entries in rows.items():
        first_line = entries[0][0]
        image = files.get(image_id)
        if image is None:
            problems.add(path, f"image file {image_id}.dcm not found under {root / IMAGES_DIR}", row=first_line,
                         key="ImageId", code="missing-image")
            continue
        try:
            header = read_dicom_header(image)
            height, width = int(header.Rows), int(header.Columns)
        except DataError as exc:
            problems.add(image, exc.message, row=first_line, code="unreadable-image")
            continue
        except AttributeError as exc:
            problems.add(image, f"DICOM header without Rows/Columns ({exc})", row=first_line, code="unreadable-image")
            continue
        if images is not None:
            images.add(image, path, first_line, "ImageId", header_read=True)
        ok = True
        for line, rle in entries:
            try:
                check_rle(rle, height, width)
            except DataError as exc:
                ok = False
                problems.add(path, f"ImageId {image_id}: {exc}", row=line, key="EncodedPixels", code="malformed-rle")
        if not ok:
            continue
        rles = tuple(rle for _, rle in entries)
        positive = any(rle not in ("", EMPTY) for rle in rles)
        samples.append(Sample(image_id=image_id, image_path=image,
                              patient_id=str(getattr(header, "PatientID", "")) or image_id,
                              study_id=str(getattr(header, "StudyInstanceUID", "")) or None,
                              view=str(getattr(header, "ViewPosition", "")) or None,
                              labels={LABEL: float(positive)}, mask_rle=rles, width=width, height=height))
    return samples


def read(root: Path) -> SampleTable:
    """One sample per ImageId (all its RLE rows); the first problem raises :class:`DataError` naming file and row."""
    return read_table(NAME, root, _scan)


def validate(root: Path, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem of the tree (missing columns/images, unreadable DICOM, malformed RLE)."""
    return validate_tree(root, _scan, options)
