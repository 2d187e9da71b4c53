"""The pre-training data path: the device-side augmentation computes what the worker-side one computes, the
DataLoader workers persist across epochs, and stop/resume with workers and device augmentation repeats an
uninterrupted single-process run loss for loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _pretrain_tiny import tiny_config, tiny_pairs

from ecamp_bench.models.sr_region import build_sr_rule
from ecamp_bench.pretrain import loop
from ecamp_bench.pretrain.data import PretrainDataset, PretrainPair, augment_on_device, collate
from ecamp_bench.pretrain.loop import TrainingStopped, run_pretraining

SOURCES = {  # 8-bit (uint8 path) and 16-bit-like float sources of different shapes
    "a": np.random.default_rng(0).integers(0, 256, size=(90, 70)).astype(np.uint8),
    "b": np.random.default_rng(1).integers(0, 256, size=(64, 100)).astype(np.uint8),
    "c": np.random.default_rng(2).random((80, 80)).astype(np.float32),
}


def dataset(augment_on: str, keys=("a", "b", "c")) -> PretrainDataset:
    pairs = [PretrainPair(k, k, "report", None) for k in keys]
    return PretrainDataset(pairs, hr_size=48, crop_scale=(0.2, 1.0), crop_ratio=(3 / 4, 4 / 3), hflip_prob=0.5,
                           mean=0.47, std=0.3, sr_rule=build_sr_rule("random", 3, 4), seed=3,
                           image_loader=lambda key: SOURCES[key], augment_on=augment_on)


@pytest.mark.parametrize("keys", [("a", "b"), ("a", "b", "c")])
def test_device_augmentation_is_bit_identical_to_the_worker_one(keys):
    for epoch in range(4):  # several epochs: both flips and many crop shapes
        worker = collate([dataset("worker", keys)[(epoch, i)] for i in range(len(keys))])
        device = collate([dataset("device", keys)[(epoch, i)] for i in range(len(keys))])
        images = augment_on_device(device["crops"], device["flip"], 48, 0.47, 0.3, torch.device("cpu"))
        assert images.shape == worker["image_hr"].shape == (len(keys), 3, 48, 48)
        assert torch.equal(images, worker["image_hr"])
        assert torch.equal(device["sr_box"], worker["sr_box"])


def test_worker_augmentation_is_the_float_image_cropped_and_resized():
    """The worker path crops the uint8 pixels before the float conversion: the same values as converting first."""
    ds = dataset("worker")
    item = ds[(0, 0)]
    rng = np.random.default_rng([3, 0, 0])
    from ecamp_bench.pretrain.data import random_resized_crop_params

    top, left, h, w = random_resized_crop_params(90, 70, (0.2, 1.0), (3 / 4, 4 / 3), rng)
    flipped = rng.random() < 0.5
    whole = torch.from_numpy(SOURCES["a"].astype(np.float32) / 255.0)[None]  # the float image first
    hr = F.interpolate(whole[None, :, top : top + h, left : left + w], size=(48, 48), mode="bicubic",
                       align_corners=False, antialias=True).clamp(0, 1)[0]
    hr = hr.flip(-1) if flipped else hr
    assert torch.equal(item["image_hr"], ((hr - 0.47) / 0.3).expand(3, -1, -1))


def _losses(run_dir) -> list[dict]:
    """Each step's logged losses (the last entry of a step wins)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return list({r["step"]: r for r in rows}.values())


@pytest.mark.slow  # two DataLoader worker processes and three tiny runs: ~1 min on 2 busy cores
def test_stop_and_resume_with_persistent_workers_and_device_augmentation_repeats_a_plain_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAMP_BENCH_PRETRAINED", str(tmp_path / "pretrained"))
    pairs = tiny_pairs(tmp_path / "pairs")
    plain = tiny_config(export=False)
    run_pretraining(plain, tmp_path / "plain", pairs=pairs, augment_on="worker")

    built = []
    real_loader = loop.DataLoader
    monkeypatch.setattr(loop, "DataLoader", lambda *a, **kw: built.append(kw) or real_loader(*a, **kw))
    workers = tiny_config(export=False)
    workers.data.num_workers = 2
    with pytest.raises(TrainingStopped):
        run_pretraining(workers, tmp_path / "resumed", pairs=pairs, augment_on="device",
                        stop=lambda info: True)  # stops after the first step
    run_pretraining(workers, tmp_path / "resumed", pairs=pairs, augment_on="device", resume=True)
    assert _losses(tmp_path / "plain") == _losses(tmp_path / "resumed")
    assert len(_losses(tmp_path / "plain")) == 6
    assert all(kw["persistent_workers"] for kw in built)
    # 3 epochs, SR rule full then attention: one loader per (process, rule), not one per epoch
    assert len(built) == 3


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("L", ".jpg"), ("RGB", ".png"), ("I;16", ".png")])
def test_images_load_as_stored_and_convert_to_the_former_floats(tmp_path, mode, suffix):
    """8-bit images come as uint8 (a quarter of the bytes to crop and move); the float conversion gives what
    ``load_image`` gave before: Pillow's grey values / 255 (16-bit images stay float in [0, 1])."""
    from PIL import Image

    from ecamp_bench.data.images import as_unit_float, load_image, load_image_array

    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 65536 if mode == "I;16" else 256, size=(30, 40) + ((3,) if mode == "RGB" else ()))
    image = Image.fromarray(pixels.astype(np.uint16 if mode == "I;16" else np.uint8))  # mode from dtype, shape
    assert image.mode == mode
    path = tmp_path / f"x{suffix}"
    image.save(path)
    array = load_image_array(path)
    with Image.open(path) as opened:
        if mode == "I;16":
            before = np.asarray(opened, dtype=np.float32) / 65535.0
        else:
            before = np.asarray(opened.convert("L"), dtype=np.float32) / 255.0
    assert array.dtype == (np.float32 if mode == "I;16" else np.uint8)
    assert np.array_equal(as_unit_float(array), np.clip(before, 0, 1).astype(np.float32))
    assert np.array_equal(load_image(path), as_unit_float(array))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_augmentation_on_the_gpu_matches_the_worker_one():
    keys = ("a", "b", "c")
    for epoch in range(2):
        worker = collate([dataset("worker", keys)[(epoch, i)] for i in range(len(keys))])
        device = collate([dataset("device", keys)[(epoch, i)] for i in range(len(keys))])
        images = augment_on_device(device["crops"], device["flip"], 48, 0.47, 0.3, torch.device("cuda"))
        torch.testing.assert_close(images.cpu(), worker["image_hr"], rtol=1e-5, atol=1e-5)
