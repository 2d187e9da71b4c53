"""``data check`` decodes every image (a JPEG cut short is reported with its file), in parallel with progress;
``--quick`` reads headers only and says so. JPEG, PNG and DICOM (real JPEG-compressed SIIM files)."""

from __future__ import annotations

import io

import numpy as np
from _realdata import chexpert_tree, placeholder_jpeg, siim_tree
from PIL import Image

from ecamp_bench.cli import main
from ecamp_bench.data.image_check import CheckOptions, check_files
from ecamp_bench_plugins.layouts import siim


def _cut(path, size):
    path.write_bytes(path.read_bytes()[:size])
    return path


def test_truncated_jpeg_in_a_chexpert_tree_is_reported_with_its_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one table row per problem
    root = chexpert_tree(tmp_path)
    victim = tmp_path / "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg"
    placeholder_jpeg(victim, size=512)
    assert victim.stat().st_size > 100_000
    _cut(victim, 20_000)
    with Image.open(victim) as image:
        image.verify()  # what the old check did: passes
    assert main(["data", "check", "--layout", "chexpert", "--root", str(root), "--workers", "2"]) == 1
    out = capsys.readouterr().out.replace("\n", "")
    assert "1 problem(s)" in out and "truncated" in out and "unreadable-image" in out
    assert str(victim) in out
    assert main(["data", "check", "--layout", "chexpert", "--root", str(root), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "quick check: image headers only" in out and "no problems" in out


def test_check_files_decodes_jpeg_png_and_dicom_in_parallel_with_progress(tmp_path):
    good = [placeholder_jpeg(tmp_path / f"ok{i}.jpg", seed=i) for i in range(70)]
    jpeg = _cut(placeholder_jpeg(tmp_path / "cut.jpg", size=512), 20_000)
    png = tmp_path / "cut.png"
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256), dtype=np.uint8)).save(buffer, "PNG")
    png.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    dicom_root = siim_tree(tmp_path / "siim")
    dicom = _cut(sorted(dicom_root.rglob("*.dcm"))[0], 30_000)
    paths = [*good[:35], jpeg, png, dicom, *good[35:]]
    calls = []
    full = check_files(paths, workers=2, progress=lambda done, total: calls.append((done, total)))
    assert full == check_files(paths, workers=1)
    bad = {paths[i].name: reason for i, reason in enumerate(full) if reason is not None}
    assert set(bad) == {"cut.jpg", "cut.png", dicom.name}, bad
    assert "truncated" in bad["cut.jpg"] and bad[dicom.name].startswith("unreadable DICOM (")
    assert "unreadable DICOM (unreadable" not in bad[dicom.name]
    assert calls[0] == (0, len(paths)) and calls[-1] == (len(paths), len(paths))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    quick = check_files(paths, quick=True, workers=2)
    assert {paths[i].name for i, r in enumerate(quick) if r is not None} <= {dicom.name}  # headers intact


def test_siim_validate_decodes_real_dicoms(tmp_path):
    root = siim_tree(tmp_path)
    assert siim.validate(root) == []
    victim = _cut(sorted(root.rglob("*.dcm"))[3], 40_000)
    problems = siim.validate(root, CheckOptions(workers=1))
    assert [(p.code, p.path, p.key) for p in problems] == [("unreadable-image", str(victim), "ImageId")]
    assert problems[0].row is not None and problems[0].message.startswith("unreadable DICOM (")
    assert siim.validate(root, CheckOptions(quick=True)) == []  # header intact: only the decode finds it
