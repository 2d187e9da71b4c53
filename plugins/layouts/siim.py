"""The SIIM-ACR Pneumothorax Segmentation (stage 1) in one module: the reader of its official layout, its synthetic
writer and its spec.

``train-rle.csv`` (header ``ImageId, EncodedPixels``; the real file has a space after the comma) holds one
row per pneumothorax region in the Kaggle relative, column-major RLE, ``-1`` for none. Images are
``dicom-images-train/<StudyUID>/<SeriesUID>/<ImageId>.dcm``. One sample per ImageId with all its rows.

:func:`write_synthetic` writes synthetic images in the same layout (one RLE row per pneumothorax region).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.api import LayoutSpec, hookimpl
from ecamp_bench.data.layout_kit.csv_rows import Problems, line_of, read_csv
from ecamp_bench.data.layout_kit.scan import read_table, validate_tree
from ecamp_bench.errors import DataError
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported by the functions that read or write, so that registering stays cheap
    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.data.synth.parallel import Progress

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
    from ecamp_bench.data.images import read_dicom_header
    from ecamp_bench.data.rle import EMPTY, check_rle
    from ecamp_bench.data.samples import Sample

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


# ---- synthetic writer ---------------------------------------------------------------------------------------

#: Images per synthetic size (see the package docstring).
SYNTHETIC_COUNTS = {"tiny": 64, "small": 500, "demo": 2600, "gpu-demo": 2600, "medium": 8000}

UID_PREFIX = "1.2.276.0.7230010.3.1."


def _render(item: tuple) -> dict:
    from scipy import ndimage

    from ecamp_bench.data.rle import EMPTY, rle_encode
    from ecamp_bench.data.synth.case import make_case
    from ecamp_bench.data.synth.writers import make_uid, make_uuid, write_dicom

    root, seed, index, size, conspicuity = item
    case = make_case(seed, "siim", index, size, conspicuity=conspicuity)
    sop, study, series = (make_uid(seed, "siim", index, part, prefix=UID_PREFIX + f"{k}.") for k, part in
                          ((4, "sop"), (2, "study"), (3, "series")))
    write_dicom(Path(root) / IMAGES_DIR / study / series / f"{sop}.dcm", case.frontal, sop_uid=sop, study_uid=study,
                series_uid=series, patient_id=make_uuid(seed, "siim", index, "patient"), view=case.view,
                sex="M" if case.sex == "Male" else "F", age=case.age, description=f"view: {case.view}")
    mask = case.truth.pneumothorax
    rles = [EMPTY]
    if mask is not None and mask.any():
        components, count = ndimage.label(mask)
        rles = [rle_encode(components == k) for k in range(1, count + 1)]
    return {"rows": [(sop, rle) for rle in rles], "truth": {"image_id": sop, **case.truth_record()}}


def write_synthetic(root: Path, n: int, seed: int, *, size: int = 256, workers: int = 1,
                    progress: Progress | None = None, conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic images (one RLE row per pneumothorax region, ``-1`` when none); returns the image count.
    ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.writers import atomic_write_bytes

    root = Path(root)
    items = [(str(root), seed, i, size, conspicuity) for i in range(n)]
    rows = render_cases(_render, items, root, label="siim-acr", workers=workers, progress=progress)
    lines = ["ImageId, EncodedPixels"] + [f"{sop}, {rle}" for row in rows for sop, rle in row["rows"]]
    atomic_write_bytes(root / RLE_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
    return len(rows)


# ---- spec ---------------------------------------------------------------------------------------------------

@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """SIIM-ACR Pneumothorax Segmentation, stage 1."""
    return [LayoutSpec(name=NAME, description="SIIM-ACR Pneumothorax Segmentation stage 1 (RLE masks, DICOM)",
                       citation="SIIM-ACR Kaggle challenge 2019", detect=detect, read=read, validate=validate,
                       write_synthetic=write_synthetic, subdir=SUBDIR, synthetic_counts=SYNTHETIC_COUNTS)]
