"""Feature cache: reused when nothing changed, invalidated when weights, preprocessing or images change."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ecamp_bench  # noqa: F401
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.evaluation.features import cached_features, extract_features, to_tensor
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file, weights_sha256
from ecamp_bench.specs import BackboneSpec

SPEC = BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=32,
                    model_kwargs={"depth": 2, "embed_dim": 24, "num_heads": 2})


def write_images(folder: Path, n: int = 5) -> SampleTable:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray((rng.random((40, 40)) * 255).astype(np.uint8)).save(path)
        samples.append(Sample(image_id=f"img{i}", image_path=path, patient_id=f"p{i}"))
    return SampleTable("mini", folder, tuple(samples))


def weights_file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    vit = build_backbone(SPEC, None).encoder
    meta = BackboneMeta(arch=SPEC.arch, model_kwargs={**SPEC.model_kwargs, "img_size": 32}, img_size=32)
    return save_backbone_file(path, vit.state_dict(), meta)


def features(table, weights: Path, cache: Path, spec=SPEC):
    backbone = build_backbone(spec, weights)
    return cached_features(backbone, weights_sha256(weights), table, cache, device=torch.device("cpu"), batch_size=2)


def test_to_tensor_resizes_and_repeats_gray():
    x = to_tensor(np.full((10, 20), 0.25, dtype=np.float32), 8)
    assert x.shape == (3, 8, 8) and torch.allclose(x, torch.full_like(x, 0.25))


def test_cache_hit_then_invalidation_on_weights_and_images(tmp_path):
    table = write_images(tmp_path / "img")
    cache = tmp_path / "cache"
    w1, w2 = weights_file(tmp_path / "a.safetensors", 0), weights_file(tmp_path / "b.safetensors", 1)
    rows, first, cached = features(table, w1, cache)
    assert not cached and first.shape == (5, 24) and rows["img3"] == 3
    _, again, cached = features(table, w1, cache)
    assert cached and np.array_equal(first, again)
    direct = extract_features(build_backbone(SPEC, w1), table, device=torch.device("cpu"))
    assert np.allclose(direct, first, atol=1e-5)

    _, other, cached = features(table, w2, cache)  # new weights → new key, recomputed
    assert not cached and not np.allclose(other, first)
    assert len(list((cache / "features").glob("*.npz"))) == 2

    path = table[0].image_path  # an image changes on disk → recomputed
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(path)
    os.utime(path, ns=(10**18, 10**18))
    _, changed, cached = features(table, w1, cache)
    assert not cached and not np.allclose(changed[0], first[0]) and np.allclose(changed[1:], first[1:], atol=1e-5)


@pytest.mark.parametrize("change", [{"mean": (0.1, 0.1, 0.1)}, {"global_pool": "token"}])
def test_preprocessing_or_pooling_change_is_a_new_key(tmp_path, change):
    from dataclasses import replace

    table = write_images(tmp_path / "img", n=2)
    w = weights_file(tmp_path / "a.safetensors", 0)
    features(table, w, tmp_path / "c")
    _, _, cached = features(table, w, tmp_path / "c", spec=replace(SPEC, **change))
    assert not cached
