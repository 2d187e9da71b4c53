"""Image loading: JPEG/PNG 8/16-bit and DICOM MONOCHROME1/2, bit depth and rescale, unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ecamp_bench.data.images import load_image
from ecamp_bench.data.synth.writers import make_uid, write_dicom
from ecamp_bench.errors import DataError

RAMP8 = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # [8, 64]


def _dicom(path, pixels, **kwargs):
    write_dicom(path, pixels, sop_uid=make_uid(path.name, 1), study_uid=make_uid(path.name, 2),
                series_uid=make_uid(path.name, 3), patient_id="p1", **kwargs)
    return path


def test_png_and_jpeg_8_bit(tmp_path):
    Image.fromarray(RAMP8).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.dtype == np.float32 and image.shape == (8, 64)
    np.testing.assert_allclose(image, RAMP8 / 255.0, atol=1e-6)
    Image.fromarray(RAMP8).save(tmp_path / "a.jpg", quality=100)
    np.testing.assert_allclose(load_image(tmp_path / "a.jpg"), RAMP8 / 255.0, atol=0.03)


def test_png_16_bit(tmp_path):
    pixels = (RAMP8.astype(np.uint16) * 257)
    Image.fromarray(pixels).save(tmp_path / "b.png")
    np.testing.assert_allclose(load_image(tmp_path / "b.png"), pixels / 65535.0, atol=1e-5)


def test_rgb_jpeg_becomes_grayscale(tmp_path):
    Image.fromarray(np.stack([RAMP8] * 3, axis=-1)).save(tmp_path / "c.png")
    assert load_image(tmp_path / "c.png").shape == (8, 64)


def test_dicom_monochrome2_8_bit(tmp_path):
    image = load_image(_dicom(tmp_path / "m2.dcm", RAMP8))
    np.testing.assert_allclose(image, RAMP8 / 255.0, atol=1e-6)


def test_dicom_monochrome1_is_inverted(tmp_path):
    image = load_image(_dicom(tmp_path / "m1.dcm", RAMP8, photometric="MONOCHROME1"))
    np.testing.assert_allclose(image, 1.0 - RAMP8 / 255.0, atol=1e-6)


def test_dicom_12_bits_stored_in_16(tmp_path):
    pixels = (RAMP8.astype(np.uint16) * 16)  # 0..4032 of 4095
    image = load_image(_dicom(tmp_path / "b12.dcm", pixels, bits_stored=12))
    np.testing.assert_allclose(image, pixels / 4095.0, atol=1e-5)
    assert image.max() > 0.9  # not divided by 65535


def test_dicom_16_bit_with_rescale(tmp_path):
    pixels = (RAMP8.astype(np.uint16) * 257)
    image = load_image(_dicom(tmp_path / "b16.dcm", pixels, rescale=(2.0, -100.0)))
    np.testing.assert_allclose(image, pixels / 65535.0, atol=1e-5)  # rescale is linear over the full range


def test_missing_and_garbage_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "junk.dcm").write_bytes(b"not a dicom at all" * 10)
    with pytest.raises(DataError, match="junk.dcm"):
        load_image(tmp_path / "junk.dcm")
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match="junk.jpg"):
        load_image(tmp_path / "junk.jpg")
