"""Encoder cost: parameter count, counted GFLOPs, throughput, the per-device cache, failures kept out of the run."""

from __future__ import annotations

import pytest

from ecamp_bench.evaluation import cost
from ecamp_bench.specs import BackboneSpec

KWARGS = {"depth": 2, "embed_dim": 32, "num_heads": 2}


def _spec(size: int) -> BackboneSpec:
    return BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=size, model_kwargs=KWARGS)


def test_params_and_counted_flops(tmp_path):
    from ecamp_bench.models.backbone import build_backbone

    small = cost.encoder_cost(_spec(32), "cpu", tmp_path)
    large = cost.encoder_cost(_spec(64), "cpu", tmp_path)
    encoder = build_backbone(_spec(32), None).encoder
    assert small["params"] == sum(p.numel() for p in encoder.parameters())
    # 4 patches -> 16 patches (+1 token): the linear layers' FLOPs grow ~3.4x, attention's more
    assert 3.0 < large["gflops"] / small["gflops"] < 6.0
    # patch embedding alone: 2 * (3*16*16) * 32 FLOPs per patch, 4 patches at 32 px
    assert small["gflops"] * 1e9 > 2 * 3 * 16 * 16 * 32 * 4
    assert small["images_per_s"] > 0 and small["device"] == "cpu" and small["input_size"] == 32


def test_cached_per_encoder_and_device(tmp_path, monkeypatch):
    first = cost.encoder_cost(_spec(32), "cpu", tmp_path)
    monkeypatch.setattr(cost, "measure", lambda spec, device: pytest.fail("measured again"))
    assert cost.encoder_cost(_spec(32), "cpu", tmp_path) == first
    assert cost.cost_key(_spec(32), "cpu") != cost.cost_key(_spec(32), "cuda:0")


def test_failure_is_reported_not_raised(tmp_path):
    broken = BackboneSpec(name="t", arch="no_such_arch", input_size=32)
    assert "error" in cost.encoder_cost(broken, "cpu", tmp_path)
