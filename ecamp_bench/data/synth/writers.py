"""File writers shared by the synthetic layouts: JPEG, DICOM, CSV (optionally gzip) and text, all deterministic.

Index files (CSV) are written atomically (``ecamp_bench.atomic``), so a tree whose
index exists is complete. Gzip headers carry no time stamp or file name, so equal seeds give equal bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ecamp_bench.atomic import atomic_write_bytes


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], gzipped: bool = False) -> None:
    """Write a CSV (``\\n`` line ends, minimal quoting); ``gzipped`` writes a time-stamp-free ``.gz``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    if gzipped:
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as handle:
            handle.write(data)
        data = out.getvalue()
    atomic_write_bytes(path, data)


def fmt_label(value: float) -> str:
    """CheXpert-style label cell: ``1.0``, ``0.0``, ``-1.0`` or blank for NaN."""
    return "" if value != value else f"{float(value):.1f}"


def save_jpeg(path: Path, pixels: np.ndarray, quality: int = 95) -> None:
    """Save a uint8 grayscale image ``[H, W]`` as a baseline JPEG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").save(path, format="JPEG", quality=quality)


def make_uid(*parts: object, prefix: str | None = None) -> str:
    """A deterministic DICOM UID derived from ``parts`` (under pydicom's root unless a ``prefix`` is given)."""
    from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

    return str(generate_uid(prefix=prefix or PYDICOM_ROOT_UID, entropy_srcs=[str(p) for p in parts]))


def make_uuid(*parts: object) -> str:
    """A deterministic UUID-4-shaped identifier derived from ``parts`` (for patient ids)."""
    import hashlib
    import uuid

    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def write_dicom(path: Path, pixels: np.ndarray, *, sop_uid: str, study_uid: str, series_uid: str, patient_id: str,
                view: str = "PA", sex: str = "M", age: int = 50, photometric: str = "MONOCHROME2",
                bits_stored: int | None = None, rescale: tuple[float, float] | None = None,
                description: str = "view: PA") -> None:
    """Write a single-frame grayscale CR DICOM (explicit VR little endian) from uint8/uint16 ``pixels [H, W]``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    bits_allocated = 8 if pixels.dtype == np.uint8 else 16
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientSex = sex
    ds.PatientAge = f"{age:03d}Y"
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.SeriesDescription = description
    ds.ConversionType = "WSD"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.PixelSpacing = [0.168, 0.168]
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
