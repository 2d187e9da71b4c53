"""Reduced-scale JPEG decoding and ``ecamp-bench data prepare`` (resized copies found again by the loader)."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
from PIL import Image

from ecamp_bench.cli import main
from ecamp_bench.data.images import load_image
from ecamp_bench.errors import DataError
from ecamp_bench.data.prepared import default_out, prepare_tree, prepared_path
from ecamp_bench.pretrain.config import DataConfig
from ecamp_bench.pretrain.setup import decode_min_side, default_image_loader


def _radiograph(path, width, height, seed=0):
    """A smooth grey image (a blob and a gradient), so that scaled decodes can be compared."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    img = 0.3 + 0.4 * x + 0.3 * np.exp(-((x - 0.5) ** 2 + (y - 0.4) ** 2) * 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L").save(path, quality=95)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAMP_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_jpeg_draft_decodes_at_reduced_scale_but_never_below_min_side(tmp_path):
    path = _radiograph(tmp_path / "a.jpg", 1200, 1000)
    full = load_image(path)
    assert full.shape == (1000, 1200)
    half = load_image(path, min_side=300)  # 1/4 would be 250 < 300: 1/2
    assert half.shape == (500, 600)
    assert np.abs(half - full[::2, ::2]).mean() < 0.01  # the same picture
    assert load_image(path, min_side=1000).shape == (1000, 1200)
    assert load_image(path, min_side=100).shape == (125, 150)  # 1/8, the smallest scale
    png = tmp_path / "a.png"
    Image.open(path).save(png)
    assert load_image(png, min_side=100).shape == (1000, 1200)  # only JPEG has DCT scaling


def test_prepare_writes_resumes_and_the_loader_reads_the_copy(tmp_path, cache, capsys):
    root = tmp_path / "mimic"
    a = _radiograph(root / "files" / "p10" / "a.jpg", 900, 750)
    b = _radiograph(root / "files" / "p11" / "b.png", 400, 600)
    small = _radiograph(root / "files" / "p12" / "c.jpg", 200, 150)
    (root / "reports.csv").write_text("x\n")
    assert main(["data", "prepare", "--root", str(root), "--size", "300", "--workers", "1"]) == 0
    assert "3 images" in capsys.readouterr().out
    out = default_out(root, 300)
    assert Image.open(out / "files/p10/a.jpg").size == (360, 300)
    assert Image.open(out / "files/p11/b.png").size == (300, 450)
    assert Image.open(out / "files/p12/c.jpg").size == (200, 150)  # never enlarged
    assert not (out / "reports.csv").exists()
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(m["source"] for m in manifest) == ["files/p10/a.jpg", "files/p11/b.png", "files/p12/c.jpg"]

    again = prepare_tree(root, 300, workers=1)
    assert (again.written, again.skipped) == (0, 3)
    _radiograph(a, 600, 480)  # the source changed: redone
    assert prepare_tree(root, 300, workers=1).written == 1
    assert Image.open(out / "files/p10/a.jpg").size == (375, 300)

    # loaders that say what they need read the smallest copy that is large enough
    assert prepared_path(a, 250) == out / "files/p10/a.jpg"
    assert prepared_path(a, 400) is None
    assert load_image(a, min_side=250).shape == (300, 375)
    assert load_image(a).shape == (480, 600)  # without min_side: the stored file
    assert load_image(b, min_side=250).shape == (450, 300)
    assert prepared_path(tmp_path / "elsewhere.jpg", 10) is None


def test_pretraining_loader_uses_the_prepared_copy(tmp_path, cache):
    root = tmp_path / "data"
    image = _radiograph(root / "x.jpg", 2400, 2000)
    cfg = DataConfig(hr_size=448, crop_scale=(0.2, 1.0))
    assert decode_min_side(cfg) == 1002  # 448 / sqrt(0.2)
    loader = partial(default_image_loader, min_side=decode_min_side(cfg))
    assert loader(str(image)).shape == (2000, 2400)  # 1/2 would be 1000 < 1002: full decode
    prepare_tree(root, 1024, workers=1)
    assert loader(str(image)).shape == (1024, 1229)
    assert decode_min_side(DataConfig(reduced_decode=False)) is None


def test_a_copy_is_used_only_while_its_source_matches_the_manifest(tmp_path, cache):
    root = tmp_path / "mimic"
    a = _radiograph(root / "files" / "a.jpg", 900, 750)
    b = _radiograph(root / "files" / "b.jpg", 900, 750)
    prepare_tree(root, 300, workers=1)
    assert load_image(a, min_side=250).shape == (300, 360)  # the copy
    Image.fromarray(np.full((750, 900), 255, dtype=np.uint8)).save(a, quality=95)  # replaced by a white image
    stale = r"stale prepared copy .*a\.jpg: its source changed since it was prepared"
    with pytest.raises(DataError, match=stale) as err:
        load_image(a, min_side=250)
    assert str(a) in str(err.value) and f"data prepare --root {root} --size 300" in str(err.value)
    prepare_tree(root, 300, workers=1)  # re-prepared: the copy is the white image now
    assert load_image(a, min_side=250).mean() > 0.99
    b.unlink()  # a deleted source never loads from its old copy
    with pytest.raises(DataError, match="image file not found"):
        load_image(b, min_side=250)
