"""The mmdet detectors of rsna-det on our backbone: anchors, build, loss + predict, frozen means frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)
from ecamp_bench.specs import BackboneSpec

pytestmark = pytest.mark.mm

try:
    import mmcv.ops  # noqa: F401
    import mmdet  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"mmcv ops / mmdet not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

from ecamp_bench.mm.det_config import (  # noqa: E402
    YOLOV3_ANCHORS_416, build_detector, retinanet_config, scaled_yolov3_anchors, yolov3_config,
)

SPEC = BackboneSpec(name="tiny", arch="vit_tiny_patch16_224", input_size=64,
                    model_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8})
SIZE = 64


def test_anchors_are_yolov3_416_anchors_scaled_to_the_input():
    at_224 = scaled_yolov3_anchors(224)
    assert at_224[0][0] == pytest.approx((116 * 224 / 416, 90 * 224 / 416))  # 62.46 x 48.46
    assert at_224[2][0] == pytest.approx((10 * 224 / 416, 13 * 224 / 416))
    assert scaled_yolov3_anchors(416) == [[tuple(map(float, a)) for a in level] for level in YOLOV3_ANCHORS_416]
    cfg = yolov3_config(SPEC, None, size=SIZE, neck_channels=(32, 16, 8))
    base = np.array(cfg["bbox_head"]["anchor_generator"]["base_sizes"])  # [3 scales, 3 anchors, (w, h)]
    np.testing.assert_allclose(base, np.array(YOLOV3_ANCHORS_416) * SIZE / 416)
    assert cfg["bbox_head"]["featmap_strides"] == [32, 16, 8] and cfg["backbone"]["out_indices"] == (1, 2, 3)
    assert cfg["test_cfg"]["conf_thr"] == 0.5 and cfg["test_cfg"]["nms"]["iou_threshold"] == 0.5
    assert cfg["bbox_head"]["num_classes"] == 1


def batch(n=2):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(n):
        inputs.append(torch.rand(3, SIZE, SIZE, generator=generator))
        meta = {"img_shape": (SIZE, SIZE), "ori_shape": (SIZE, SIZE), "scale_factor": (1.0, 1.0)}
        sample = DetDataSample(metainfo=meta)
        boxes = torch.tensor([[8.0, 10.0, 30.0, 40.0]]) if i % 2 == 0 else torch.zeros(0, 4)  # a negative too
        sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.zeros(len(boxes), dtype=torch.long))
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


@pytest.mark.parametrize("kind", ["yolov3", "retinanet"])
def test_detector_builds_on_our_backbone_and_runs_loss_and_predict(kind):
    torch.manual_seed(0)
    if kind == "yolov3":
        cfg = yolov3_config(SPEC, None, size=SIZE, neck_channels=(32, 16, 8))
    else:
        cfg = retinanet_config(SPEC, None, size=SIZE, fpn_channels=16, stacked_convs=1, anchor_scale=2)
    model = build_detector(cfg)
    assert type(model.backbone).__name__ == "EcampBenchBackbone"
    model.train()
    data = model.data_preprocessor(batch(), True)
    loss, log = model.parse_losses(model.loss(data["inputs"], data["data_samples"]))
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    model.eval()
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        results = model.predict(data["inputs"], data["data_samples"])
    assert len(results) == 2
    for result in results:
        boxes, scores = result.pred_instances.bboxes, result.pred_instances.scores
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and scores.shape == (boxes.shape[0],)
        if kind == "yolov3":  # objectness 0.5 threshold: every kept box passed it
            assert (result.pred_instances.get("score_factors", torch.ones(0)) >= 0.5).all()


def test_frozen_encoder_is_unchanged_by_training_and_the_head_changes():
    from ecamp_bench.mm.det_train import FROZEN_PREFIX, optimizer

    torch.manual_seed(0)
    spec16 = BackboneSpec(name="tiny16", arch="vit_tiny_patch16_224", input_size=SIZE,
                          model_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2})  # stride 8 = a trained upsampler
    model = build_detector(yolov3_config(spec16, None, size=SIZE, neck_channels=(32, 16, 8), frozen=True))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    class P:
        betas, weight_decay = (0.9, 0.999), 1e-6

    optim = optimizer(model, P, 1e-2, frozen=True)
    model.train()
    assert not model.backbone.backbone.encoder.training  # frozen ViT stays in eval mode
    for _ in range(3):
        data = model.data_preprocessor(batch(), True)
        loss, _ = model.parse_losses(model.loss(data["inputs"], data["data_samples"]))
        optim.zero_grad()
        loss.backward()
        optim.step()
    after = model.state_dict()
    vit = [k for k in after if k.startswith(FROZEN_PREFIX)]
    assert vit and all(torch.equal(before[k], after[k]) for k in vit)
    assert all(not p.requires_grad for n, p in model.named_parameters() if n.startswith(FROZEN_PREFIX))
    head = [k for k in after if k.startswith("bbox_head.") and after[k].is_floating_point()]
    assert any(not torch.equal(before[k], after[k]) for k in head)
    pyramid = [k for k in after if k.startswith("backbone.backbone.pyramid.1.")]  # the stride-8 upsampler
    assert any(not torch.equal(before[k], after[k]) for k in pyramid)  # resamplers train with the head
