"""Fine-tuning parameter groups: timm's layer decay, and no weight decay on 1-D tensors or ``no_weight_decay()``."""

from __future__ import annotations

import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision compatibility before timm)
from ecamp_bench.evaluation.param_groups import backbone_param_groups, layer_decay_param_groups
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.specs import BackboneSpec


def _by_param(groups):
    seen = {}
    for group in groups:
        for p in group["params"]:
            assert id(p) not in seen, "a parameter is in two groups"
            seen[id(p)] = (group["lr"], group["weight_decay"])
    return seen


def test_vit_layer_decay_and_no_weight_decay_names():
    spec = BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=64,
                        model_kwargs={"depth": 4, "embed_dim": 24, "num_heads": 2})
    backbone = build_backbone(spec, None)
    vit = backbone.encoder
    head = torch.nn.Linear(24, 2)
    groups = backbone_param_groups(backbone, head.parameters(), lr=1.0, weight_decay=0.05, layer_decay=0.5)
    of = _by_param(groups)
    trainable = [p for p in [*backbone.parameters(), *head.parameters()] if p.requires_grad]
    assert set(of) == {id(p) for p in trainable}
    assert of[id(vit.cls_token)] == (pytest.approx(0.5**5), 0.0)  # no_weight_decay(), though 3-D
    if vit.pos_embed.requires_grad:
        assert of[id(vit.pos_embed)] == (pytest.approx(0.5**5), 0.0)
    assert of[id(vit.patch_embed.proj.weight)] == (pytest.approx(0.5**5), 0.05)
    assert of[id(vit.blocks[0].attn.qkv.weight)] == (pytest.approx(0.5**4), 0.05)
    assert of[id(vit.blocks[3].attn.qkv.weight)] == (pytest.approx(0.5), 0.05)
    assert of[id(vit.blocks[3].norm1.weight)] == (pytest.approx(0.5), 0.0)
    assert of[id(vit.norm.weight)] == (pytest.approx(0.5), 0.0)  # timm groups it with the last block
    assert of[id(head.weight)] == (1.0, 0.05) and of[id(head.bias)] == (1.0, 0.0)
    pyramid = [p for p in backbone.pyramid.parameters() if p.ndim > 1]
    assert pyramid and all(of[id(p)] == (1.0, 0.05) for p in pyramid)
    assert all(g["base_lr"] == g["lr"] for g in groups)


def test_cnn_layer_decay_follows_timms_group_matcher():
    import timm

    resnet = timm.create_model("resnet18", pretrained=False, num_classes=0)
    of = _by_param(layer_decay_param_groups(resnet, [], lr=1.0, weight_decay=0.1, layer_decay=0.5))
    stem, last = of[id(resnet.conv1.weight)], of[id(resnet.layer4[1].conv2.weight)]
    assert stem[0] < last[0] == 0.5 and stem[1] == last[1] == 0.1
    assert of[id(resnet.bn1.weight)][1] == 0.0


def test_others_must_lie_outside_the_encoder():
    import timm

    resnet = timm.create_model("resnet18", pretrained=False, num_classes=0)
    with pytest.raises(ValueError, match="belongs to it"):
        layer_decay_param_groups(resnet, [resnet.conv1.weight], lr=1.0, weight_decay=0.1, layer_decay=0.5)


def test_finetune_seg_optimizer_exempts_pos_embed_and_cls_token():
    pytest.importorskip("mmengine")
    from types import SimpleNamespace

    from ecamp_bench.mm.seg_train import _optimizer

    spec = BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=64,
                        model_kwargs={"depth": 2, "embed_dim": 24, "num_heads": 2})
    segmentor = torch.nn.Module()
    segmentor.backbone = torch.nn.Module()
    segmentor.backbone.backbone = build_backbone(spec, None)
    segmentor.decode_head = torch.nn.Conv2d(24, 2, 1)
    params = SimpleNamespace(lr=1.0, weight_decay=0.05, layer_decay=0.5)
    of = _by_param(_optimizer(segmentor, params, "finetune").optimizer.param_groups)
    vit = segmentor.backbone.backbone.encoder
    assert of[id(vit.cls_token)] == (pytest.approx(0.5**3), 0.0)
    assert of[id(vit.blocks[0].attn.qkv.weight)] == (pytest.approx(0.5**2), 0.05)
    assert of[id(segmentor.decode_head.weight)] == (1.0, 0.05) and of[id(segmentor.decode_head.bias)] == (1.0, 0.0)
    assert len(of) == sum(p.requires_grad for p in segmentor.parameters())


def test_cnn_backbone_gets_layer_decay_through_its_group_matcher():
    backbone = build_backbone(BackboneSpec(name="r", arch="resnet18", input_size=64), None)
    head = torch.nn.Linear(backbone.num_features, 2)
    of = _by_param(backbone_param_groups(backbone, head.parameters(), lr=1.0, weight_decay=0.1, layer_decay=0.5))
    resnet = backbone.encoder
    assert (of[id(resnet.conv1.weight)][0] < of[id(resnet.layer2[0].conv1.weight)][0]
            < of[id(resnet.layer4[1].conv2.weight)][0] == 0.5)
    assert of[id(head.weight)] == (1.0, 0.1) and of[id(resnet.bn1.weight)][1] == 0.0
