"""Box formats and resizing of rsna-det (RSNA x, y, w, h ↔ x1, y1, x2, y2 at the evaluated resolution)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ecamp_bench.data.samples import Sample
from ecamp_bench.mm.det_data import boxes_at_size, boxes_to_original, xywh_to_xyxy, xyxy_to_xywh


def sample(boxes, width=1024, height=512):
    return Sample(image_id="a", image_path=Path("a.dcm"), patient_id="a", boxes=tuple(boxes), width=width,
                  height=height)


def test_xywh_round_trip_hand_values():
    xywh = np.array([[264.0, 152.0, 213.0, 379.0], [0.0, 0.0, 1.0, 2.0]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy, [[264, 152, 477, 531], [0, 0, 1, 2]])
    np.testing.assert_allclose(xyxy_to_xywh(xyxy), xywh)


def test_boxes_scale_per_axis_to_the_evaluated_size_without_mutating_the_sample():
    s = sample([(256.0, 128.0, 512.0, 256.0)], width=1024, height=512)  # aspect not kept: x/4.57, y/2.29
    at_224 = boxes_at_size(s, 224)
    np.testing.assert_allclose(at_224, [[56.0, 56.0, 112.0, 112.0]])
    at_224[:] = 0  # the caller may change its copy ...
    assert s.boxes == ((256.0, 128.0, 512.0, 256.0),)  # ... the sample never changes (MGCA's in-place bug)
    np.testing.assert_allclose(boxes_at_size(s, 224), [[56.0, 56.0, 112.0, 112.0]])  # same on every call
    np.testing.assert_allclose(boxes_to_original(boxes_at_size(s, 128), s, 128), [[256, 128, 512, 256]])
    assert boxes_at_size(sample([]), 224).shape == (0, 4)  # negatives: no box


def test_rsna_csv_boxes_reach_the_evaluated_resolution(tmp_path):
    """Synthetic RSNA tree: CSV ``x, y, width, height`` → adapter ``x1..y2`` → pixels of the 64-px input."""
    from ecamp_bench_plugins.layouts import rsna

    rsna.write_synthetic(tmp_path, 12, 0, size=96)
    rows = list(csv.DictReader(open(tmp_path / "stage_2_train_labels.csv")))
    table = rsna.read(tmp_path)
    by_id = {s.image_id: s for s in table}
    positive = [r for r in rows if r["Target"] == "1"]
    assert positive, "the synthetic set should contain a positive"
    for row in positive:
        s = by_id[row["patientId"]]
        x, y, w, h = (float(row[k]) for k in ("x", "y", "width", "height"))
        expected = xywh_to_xyxy(np.array([[x, y, w, h]]))[0] * (64 / 96)
        assert any(np.allclose(b, expected) for b in boxes_at_size(s, 64)), (row, s.boxes)
    negatives = [s for s in table if s.label("Pneumonia") == 0.0]
    assert negatives and all(boxes_at_size(s, 64).shape == (0, 4) for s in negatives)


def test_detection_set_batch_has_boxes_at_size_and_flips(tmp_path):
    pytest.importorskip("mmdet")
    from ecamp_bench_plugins.layouts import rsna
    from ecamp_bench.mm.det_data import DetectionSet

    rsna.write_synthetic(tmp_path, 6, 1, size=96)
    table = rsna.read(tmp_path)
    data = DetectionSet(table, 64)
    assert data.images.shape == (6, 64, 64) and data.images.dtype == np.uint8
    i = next(k for k, s in enumerate(table) if s.boxes)
    plain = data.batch([i])
    flipped = data.batch([i], hflip=[True])
    assert plain["inputs"][0].shape == (3, 64, 64) and 0.0 <= float(plain["inputs"][0].min()) <= 1.0
    gt = plain["data_samples"][0].gt_instances.bboxes.numpy()
    np.testing.assert_allclose(gt, boxes_at_size(table[i], 64), rtol=1e-6)
    fgt = flipped["data_samples"][0].gt_instances.bboxes.numpy()
    np.testing.assert_allclose(fgt[:, [0, 2]], 64 - gt[:, [2, 0]], rtol=1e-6)
    np.testing.assert_allclose(flipped["inputs"][0].numpy(), plain["inputs"][0].flip(-1).numpy())


def test_decoded_images_are_cached_and_invalidated_when_a_file_changes(tmp_path):
    import os

    from ecamp_bench_plugins.layouts import rsna
    from ecamp_bench.mm.det_data import image_set_key, load_images

    rsna.write_synthetic(tmp_path / "data", 4, 2, size=64)
    table = rsna.read(tmp_path / "data")
    cache = tmp_path / "cache"
    first = load_images(table, 32, cache_dir=cache)
    entries = list((cache / "det-images").glob("*.npy"))
    assert len(entries) == 1 and entries[0].stem == image_set_key(table, 32)
    np.testing.assert_array_equal(load_images(table, 32, cache_dir=cache), first)
    np.testing.assert_array_equal(load_images(table, 32), first)  # the cache holds what decoding gives
    path = table[0].image_path
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert image_set_key(table, 32) != entries[0].stem
    assert image_set_key(table, 64) != image_set_key(table, 32)
