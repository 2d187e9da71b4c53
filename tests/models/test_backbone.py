"""The Backbone interface: global features, multi-scale maps, feature taps, timm adapter, layer decay."""

from __future__ import annotations

import torch

import ecamp_bench  # noqa: F401
from ecamp_bench.models.backbone import (
    build_backbone, feature_block_indices,
)
from ecamp_bench.models.importers import adapt_timm
from ecamp_bench.specs import BackboneSpec


def spec(**kw) -> BackboneSpec:
    base = dict(name="t", arch="vit_tiny_patch16_224", input_size=64,
                model_kwargs={"depth": 4, "embed_dim": 24, "num_heads": 2})
    return BackboneSpec(**{**base, **kw})


def test_global_and_multiscale_shapes():
    torch.manual_seed(0)
    backbone = build_backbone(spec(), None).eval()
    x = backbone.normalize(torch.rand(2, 3, 64, 64))
    assert backbone.forward_global(x).shape == (2, 24)
    maps = backbone.forward_multiscale(x)
    assert [tuple(m.shape) for m in maps] == [(2, 24, 16, 16), (2, 24, 8, 8), (2, 24, 4, 4), (2, 24, 2, 2)]
    assert backbone.strides == (4, 8, 16, 32) and backbone.out_channels == [24] * 4


def test_stride_16_map_is_the_tapped_block_output():
    backbone = build_backbone(spec(), None).eval()
    x = torch.rand(1, 3, 64, 64)
    tokens = backbone.encoder.forward_intermediates(x, indices=[2], intermediates_only=True)[0]
    assert torch.allclose(backbone.forward_multiscale(x)[2], tokens)


def test_feature_indices_follow_depth():
    assert feature_block_indices(12) == (3, 5, 7, 11)
    assert feature_block_indices(4) == (0, 1, 2, 3)
    assert feature_block_indices(8) == (1, 3, 5, 7)
    assert feature_block_indices(2) == (0, 1, 1, 1)


def test_token_vs_avg_pooling_differ():
    torch.manual_seed(0)
    avg = build_backbone(spec(global_pool="avg"), None).eval()
    tok = build_backbone(spec(global_pool="token"), None).eval()
    tok.encoder.load_state_dict(avg.encoder.state_dict(), strict=False)
    x = torch.rand(1, 3, 64, 64)
    assert not torch.allclose(avg.forward_global(x), tok.forward_global(x))


def test_timm_adapter_drops_head_and_resamples_pos_embed():
    import timm

    source = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=32, depth=4,
                               embed_dim=24, num_heads=2)
    target = build_backbone(spec(), None)
    adapted = adapt_timm(source.state_dict(), target.encoder)
    assert "head.weight" not in adapted
    assert adapted["pos_embed"].shape == target.encoder.pos_embed.shape == (1, 17, 24)
