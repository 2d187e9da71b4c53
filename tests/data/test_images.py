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


def _with_sbit(png: bytes, bits: int) -> bytes:
    """``png`` with an ``sBIT`` chunk of ``bits`` inserted after IHDR (8-byte signature + 25-byte IHDR)."""
    import struct
    import zlib

    chunk = struct.pack(">I4sB", 1, b"sBIT", bits) + struct.pack(">I", zlib.crc32(b"sBIT" + bytes([bits])))
    return png[:33] + chunk + png[33:]


def test_a_16_bit_png_is_scaled_by_its_sbit_depth_else_by_65535(tmp_path):
    from ecamp_bench.data.images import png_significant_bits

    twelve = np.array([[0, 1024], [2048, 4095]], dtype=np.uint16)  # 12-bit data, stored as it is
    Image.fromarray(twelve).save(tmp_path / "plain.png")
    (tmp_path / "sbit12.png").write_bytes(_with_sbit((tmp_path / "plain.png").read_bytes(), 12))
    assert png_significant_bits(tmp_path / "sbit12.png") == 12 and png_significant_bits(tmp_path / "plain.png") is None
    np.testing.assert_allclose(load_image(tmp_path / "sbit12.png"), twelve / 4095.0, atol=1e-6)
    np.testing.assert_allclose(load_image(tmp_path / "plain.png"), twelve / 65535.0, atol=1e-6)  # the documented rule
    shifted = twelve << 4  # scaled to the full range as the PNG specification asks: sBIT 12 and values above 4095
    Image.fromarray(shifted).save(tmp_path / "shifted.png")
    (tmp_path / "shifted12.png").write_bytes(_with_sbit((tmp_path / "shifted.png").read_bytes(), 12))
    np.testing.assert_allclose(load_image(tmp_path / "shifted12.png"), shifted / 65535.0, atol=1e-6)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[:5, :10] = 255  # a bright top-left corner, stored landscape
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / f"sideways{suffix}"
    image.save(path, exif=exif.tobytes(), **({"quality": 100} if suffix == ".jpg" else {}))
    upright = load_image(path)
    assert upright.shape == (40, 20)  # portrait, as a viewer shows it
    assert upright[:10, -5:].mean() > 0.8 and upright[:10, :5].mean() < 0.2  # the corner went to the top right
