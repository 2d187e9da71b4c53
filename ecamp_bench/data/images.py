"""Image loading for JPEG, PNG and DICOM chest radiographs into one convention.

Every loader returns a float32 array ``[H, W]`` in ``[0, 1]`` where bright means dense (bone, fluid),
whatever the storage: 8/16-bit JPEG or PNG, DICOM MONOCHROME2 or MONOCHROME1 (inverted), any BitsStored,
with the modality rescale (slope/intercept) applied. Unreadable files raise :class:`DataError` naming them.

JPEG/PNG/TIFF images are turned upright by their EXIF Orientation tag (as a viewer shows them).

A 16-bit PNG is scaled by its real bit depth where the file states it: the ``sBIT`` chunk (which Pillow does
not expose; :func:`png_significant_bits` reads it) says ``b`` significant bits, and values that fit in ``b``
bits are divided by ``2**b - 1`` (12-bit data stored as it is); values above that mean the writer scaled the
samples to the full range, as the PNG specification asks, and they are divided by 65535. Without ``sBIT`` the
rule is the file's bit depth: divide by 65535 (a 12-bit image without ``sBIT`` then looks dark: convert it
with an ``sBIT`` chunk or to full range).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ecamp_bench.errors import DataError

DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom(path: Path) -> bool:
    """Whether ``path`` is a DICOM file by suffix (``.dcm``/``.dicom``) or by its ``DICM`` preamble marker."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def load_image(path: Path, min_side: int | None = None) -> np.ndarray:
    """Load a grayscale radiograph as float32 ``[H, W]`` in ``[0, 1]`` (JPEG, PNG or DICOM).

    ``min_side``: the caller needs only that many pixels on the shorter side, so the image may come smaller:
    from a prepared copy (``ecamp-bench data prepare``, :func:`~ecamp_bench.data.prepared.prepared_path`)
    when one is registered, and a JPEG is decoded at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``) while its
    shorter side stays >= ``min_side``. None: the full image, as stored.
    """
    return as_unit_float(load_image_array(path, min_side))


def load_image_array(path: Path, min_side: int | None = None) -> np.ndarray:
    """:func:`load_image` before the conversion to float: uint8 ``[H, W]`` for 8-bit images (a quarter of the
    bytes to crop and move; :func:`as_unit_float` gives the same floats later, e.g. on the GPU), else float32
    ``[H, W]`` in ``[0, 1]``."""
    path = Path(path)
    if min_side is not None and not is_dicom(path):
        from ecamp_bench.data.prepared import prepared_path

        path = prepared_path(path, min_side) or path
    if not path.is_file():
        raise DataError("image file not found", path=path)
    return _load_dicom(path) if is_dicom(path) else _load_raster(path, min_side)


def as_unit_float(array: np.ndarray) -> np.ndarray:
    """An array of :func:`load_image_array` as float32 in ``[0, 1]`` (uint8 / 255; floats clipped)."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def _load_raster(path: Path, min_side: int | None = None) -> np.ndarray:
    from PIL import UnidentifiedImageError

    from ecamp_bench.data.prepared import reduced_open

    try:
        with reduced_open(path, min_side) as image:
            image.load()
            image = upright(image)
            if image.mode in ("I;16", "I;16B", "I;16L") or (image.mode == "I" and image.format == "PNG"):
                values = np.asarray(image, dtype=np.float32)
                array = values / sixteen_bit_scale(path, values) if values.size else values
            elif image.mode == "I":
                array = np.asarray(image, dtype=np.float32) / (255.0 if np.asarray(image).max() <= 255 else 65535.0)
            elif image.mode == "F":
                array = np.asarray(image, dtype=np.float32)
            else:
                return np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"unreadable image ({exc})", path=path) from None
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def upright(image):
    """``image`` turned by its EXIF Orientation tag (Pillow's ``ImageOps.exif_transpose``); as it is without one."""
    from PIL import ImageOps

    try:
        orientation = image.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):  # a damaged EXIF block: keep the pixels as stored
        return image
    return ImageOps.exif_transpose(image) if orientation not in (None, 1) else image


def png_significant_bits(path: Path) -> int | None:
    """The significant bits of a PNG's grey/colour samples from its ``sBIT`` chunk, or None (no chunk, not a PNG).

    Reads the chunks before the first ``IDAT`` (``sBIT`` must come before it); CRCs are checked, so a damaged
    chunk counts as absent.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            color_type = None
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind in (b"IDAT", b"IEND") or length > 1 << 20:
                    return None
                data, crc = handle.read(length), handle.read(4)
                if len(crc) < 4 or zlib.crc32(kind + data) != struct.unpack(">I", crc)[0]:
                    return None
                if kind == b"IHDR" and length >= 10:
                    color_type = data[9]
                elif kind == b"sBIT" and data:
                    samples = {0: 1, 2: 3, 3: 3, 4: 1, 6: 3}.get(color_type, 1)  # alpha's byte is not a sample
                    return max(data[:samples])
    except OSError:
        return None


def sixteen_bit_scale(path: Path, values: np.ndarray) -> float:
    """The divisor that maps a 16-bit PNG's ``values`` to ``[0, 1]`` (module docstring: the ``sBIT`` rule)."""
    bits = png_significant_bits(path)
    if bits is not None and 1 <= bits < 16 and float(values.max()) <= 2.0**bits - 1:
        return 2.0**bits - 1
    return 65535.0


def dicom_value_range(ds) -> tuple[float, float]:
    """The (low, high) stored-value range of a DICOM image after its modality rescale."""
    bits = int(getattr(ds, "BitsStored", None) or getattr(ds, "BitsAllocated", 8))
    if int(getattr(ds, "PixelRepresentation", 0)) == 1:
        low, high = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    else:
        low, high = 0.0, 2.0**bits - 1
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    ends = sorted((low * slope + intercept, high * slope + intercept))
    return ends[0], ends[1]


def _load_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
    except (InvalidDicomError, AttributeError, ValueError, OSError, KeyError, NotImplementedError, RuntimeError) as exc:
        raise DataError(f"unreadable DICOM ({type(exc).__name__}: {exc})", path=path) from None
    if raw.ndim == 3 and int(getattr(ds, "SamplesPerPixel", 1)) == 3:
        raw = raw.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    elif raw.ndim != 2:
        raise DataError(f"expected a single-frame grayscale DICOM, got pixel array of shape {raw.shape}", path=path)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    values = raw.astype(np.float32) * slope + intercept
    low, high = dicom_value_range(ds)
    array = (values - low) / max(high - low, 1e-6)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        array = 1.0 - array
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def read_dicom_header(path: Path):
    """Read a DICOM header (no pixel data); raises :class:`DataError` naming the file when it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise DataError(f"unreadable DICOM ({type(exc).__name__}: {exc})", path=path) from None
