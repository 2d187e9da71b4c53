"""A ResNet-50 in the OpenMMLab glue: per-level channels reach every head, MGCA's detector is C3-C5 of a frozen
ResNet (BatchNorm statistics untouched by training), and a ViT keeps its single-width pyramid."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)

pytest.importorskip("mmengine")

from ecamp_bench.specs import BackboneSpec  # noqa: E402

R50 = BackboneSpec(name="r50-small", arch="resnet50", input_size=64,
                   model_kwargs={"layers": (1, 1, 1, 1), "base_width": 16})
VIT = BackboneSpec(name="vit-tiny", arch="vit_tiny_patch16_224", input_size=64,
                   model_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2})


def seg_params(**kw):
    from ecamp_bench_plugins.protocols.frozen_seg import FrozenSegParams

    return dataclasses.replace(FrozenSegParams(), image_size=64, **kw)


def test_segmentation_heads_take_the_backbone_channels():
    from ecamp_bench.mm.seg_config import segmentor_cfg
    from ecamp_bench_plugins.protocols.finetune_seg import FinetuneSegParams

    frozen = segmentor_cfg(seg_params(), spec=R50, weights=None, mode="frozen")
    assert frozen["backbone"]["out_indices"] == (3,) and "feature_indices" not in frozen["backbone"]
    assert frozen["decode_head"]["in_channels"] == 2048  # layer4 (C5)
    vit = segmentor_cfg(seg_params(), spec=VIT, weights=None, mode="frozen")
    assert vit["backbone"]["out_indices"] == (2,) and vit["backbone"]["feature_indices"] == (-1, -1, -1, -1)
    assert vit["decode_head"]["in_channels"] == 32
    params = dataclasses.replace(FinetuneSegParams(), image_size=64)
    tuned = segmentor_cfg(params, spec=R50, weights=None, mode="finetune")
    assert tuned["decode_head"]["in_channels"] == [256, 512, 1024, 2048]
    assert tuned["auxiliary_head"]["in_channels"] == 1024 and tuned["auxiliary_head"]["in_index"] == 2


def test_frozen_resnet_wrapper_gives_stages_and_keeps_batchnorm_statistics():
    from ecamp_bench.mm.backbone import EcampBenchBackbone, spec_to_dict

    torch.manual_seed(0)
    wrapper = EcampBenchBackbone(spec_to_dict(R50), frozen=True, out_indices=(1, 2, 3), img_size=96)
    assert wrapper.out_channels == [512, 1024, 2048] and wrapper.strides == [8, 16, 32]
    before = {k: v.clone() for k, v in wrapper.state_dict().items()}
    wrapper.train()
    assert not wrapper.backbone.encoder.training
    outs = wrapper(torch.rand(2, 3, 96, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 512, 12, 12), (2, 1024, 6, 6), (2, 2048, 3, 3)]
    assert not any(o.requires_grad for o in outs)  # nothing to train in a frozen CNN's pyramid (identity resamplers)
    for key, value in wrapper.state_dict().items():
        assert torch.equal(value, before[key]), key  # running_mean/var untouched in "train" mode


def test_yolov3_on_a_frozen_resnet_is_mgcas_detector():
    pytest.importorskip("mmcv.ops")
    pytest.importorskip("mmdet")
    from ecamp_bench.mm.det_config import build_detector, retinanet_config, yolov3_config

    cfg = yolov3_config(R50, None, size=64, neck_channels=(32, 16, 8), frozen=True)
    assert cfg["neck"]["in_channels"] == [2048, 1024, 512] and cfg["backbone"]["out_indices"] == (1, 2, 3)
    assert retinanet_config(R50, None, size=64, fpn_channels=16)["neck"]["in_channels"] == [256, 512, 1024, 2048]
    assert yolov3_config(VIT, None, size=64, neck_channels=(32, 16, 8))["neck"]["in_channels"] == [32, 32, 32]
    torch.manual_seed(0)
    model = build_detector(cfg)
    model.train()
    inputs = torch.rand(2, 3, 64, 64)
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    samples = []
    for _ in range(2):
        sample = DetDataSample(metainfo={"img_shape": (64, 64), "ori_shape": (64, 64), "scale_factor": (1.0, 1.0),
                                         "pad_shape": (64, 64), "batch_input_shape": (64, 64)})
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[8.0, 8.0, 40.0, 40.0]]), labels=torch.tensor([0]))
        samples.append(sample)
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v).all() for v in losses.values() if isinstance(v, torch.Tensor))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and not any(n.startswith("backbone.backbone.encoder.") for n in trainable)
