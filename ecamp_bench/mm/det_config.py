"""Protocol params → mmdet model configs (plain dicts) on :class:`~ecamp_bench.mm.backbone.EcampBenchBackbone`.

- :func:`yolov3_config` (protocol ``frozen-det``, MGCA/ECAMP lineage, docs/protocols.md): mmdet's own
  YOLOv3 model config (``yolo/yolov3_d53_8xb8-320-273e_coco.py`` shipped in the wheel) with our backbone
  giving three scales (strides 8/16/32, ``out_indices=(1, 2, 3)``; a ResNet-50's C3-C5, as in MGCA),
  ``YOLOV3Neck`` + ``YOLOV3Head`` with one
  class, YOLOv3's 416-px COCO anchors scaled by ``size / 416`` (224 px in MGCA), objectness threshold
  ``confidence`` (0.5) and NMS IoU ``nms_iou`` (0.5).
- :func:`retinanet_config` (protocol ``det``): mmdet's RetinaNet (``FPN`` + ``RetinaHead``, focal loss) on
  the four maps of our feature pyramid (a ViT: ViTDet-style simple pyramid from its block taps; a CNN: its
  stages C2-C5), FPN outputs at strides 8/16/32 plus two extra levels 64/128, anchors from ``anchor_scale`` × stride.

Inputs are ``[0, 1]`` float images; the data preprocessor only stacks/pads them (mean 0, std 1) because
the backbone applies its own normalisation.
"""

from __future__ import annotations

import copy
import importlib
import logging
from pathlib import Path
from typing import Any

from ecamp_bench.mm.backbone import REGISTERED_NAME, spec_to_dict
from ecamp_bench.models.backbone import describe_backbone
from ecamp_bench.specs import BackboneSpec

YOLOV3_ANCHORS_416 = (
    ((116, 90), (156, 198), (373, 326)),  # stride 32
    ((30, 61), (62, 45), (59, 119)),  # stride 16
    ((10, 13), (16, 30), (33, 23)),  # stride 8
)
YOLOV3_CONFIG = "yolo/yolov3_d53_8xb8-320-273e_coco.py"
RETINANET_CONFIG = "_base_/models/retinanet_r50_fpn.py"


def packaged_model_config(relative: str) -> dict:
    """The ``model`` dict of a config shipped inside the mmdet wheel (``mmdet/.mim/configs/<relative>``)."""
    from mmengine.config import Config

    root = Path(importlib.import_module("mmdet").__file__).parent / ".mim" / "configs"
    return Config.fromfile(str(root / relative)).model.to_dict()


def scaled_yolov3_anchors(size: int) -> list[list[tuple[float, float]]]:
    """YOLOv3's 416-px anchors ``(w, h)`` × ``size / 416``, deepest scale first (mmdet's order)."""
    factor = float(size) / 416.0
    return [[(w * factor, h * factor) for w, h in level] for level in YOLOV3_ANCHORS_416]


def _data_preprocessor() -> dict:
    return dict(type="DetDataPreprocessor", mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], bgr_to_rgb=False,
                pad_size_divisor=32)


def _backbone(spec: BackboneSpec, weights: str | Path | None, frozen: bool, out_indices, size: int) -> dict:
    return dict(type=REGISTERED_NAME, spec=spec_to_dict(spec), weights=str(weights) if weights else None,
                frozen=bool(frozen), out_indices=tuple(out_indices), img_size=int(size))


def yolov3_config(
    spec: BackboneSpec,
    weights: str | Path | None,
    *,
    size: int,
    neck_channels: tuple[int, int, int] = (512, 256, 128),
    confidence: float = 0.5,
    nms_iou: float = 0.5,
    score_threshold: float = 0.05,
    frozen: bool = True,
) -> dict:
    """mmdet YOLOv3 (1 class) on three scales (strides 8/16/32) of our backbone, anchors scaled to ``size``.

    The neck's ``in_channels`` are the backbone's stride-32, -16 and -8 widths (deepest first, mmdet's order):
    ``[D] * 3`` for a ViT, ``[2048, 1024, 512]`` for a ResNet-50 (C5, C4, C3: MGCA's detector).
    """
    channels = describe_backbone(spec).out_channels
    model = packaged_model_config(YOLOV3_CONFIG)
    model["data_preprocessor"] = _data_preprocessor()
    model["backbone"] = _backbone(spec, weights, frozen, (1, 2, 3), size)
    neck = [int(c) for c in neck_channels]  # deepest first, like mmdet's [512, 256, 128]
    model["neck"].update(in_channels=[channels[3], channels[2], channels[1]], out_channels=neck)
    model["bbox_head"].update(num_classes=1, in_channels=neck, out_channels=[2 * c for c in neck])
    model["bbox_head"]["anchor_generator"]["base_sizes"] = scaled_yolov3_anchors(size)
    model["test_cfg"].update(conf_thr=float(confidence), score_thr=float(score_threshold),
                             nms=dict(type="nms", iou_threshold=float(nms_iou)))
    return model


def retinanet_config(
    spec: BackboneSpec,
    weights: str | Path | None,
    *,
    size: int,
    fpn_channels: int = 256,
    stacked_convs: int = 4,
    anchor_scale: int = 4,
    nms_iou: float = 0.5,
    score_threshold: float = 0.05,
    frozen: bool = False,
) -> dict:
    """mmdet RetinaNet (1 class) with an FPN on our four pyramid maps (strides 4-32, the backbone's widths)."""
    channels = describe_backbone(spec).out_channels
    model = packaged_model_config(RETINANET_CONFIG)
    model["data_preprocessor"] = _data_preprocessor()
    model["backbone"] = _backbone(spec, weights, frozen, (0, 1, 2, 3), size)
    model["neck"].update(in_channels=list(channels), out_channels=int(fpn_channels))
    head = model["bbox_head"]
    head.update(num_classes=1, in_channels=int(fpn_channels), feat_channels=int(fpn_channels),
                stacked_convs=int(stacked_convs))
    head["anchor_generator"]["octave_base_scale"] = int(anchor_scale)
    model["test_cfg"].update(score_thr=float(score_threshold), nms=dict(type="nms", iou_threshold=float(nms_iou)))
    return model


def build_detector(config: dict[str, Any]):
    """Build a detector from a model config in mmdet's scope (mmengine's init-weights log silenced)."""
    from mmdet.registry import MODELS
    from mmengine.config import ConfigDict
    from mmengine.logging import MMLogger

    from ecamp_bench.mm.runtime import known_openmmlab_warnings_ignored, scoped

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with scoped("mmdet"), known_openmmlab_warnings_ignored():
            model = MODELS.build(ConfigDict(copy.deepcopy(config)))  # nested dicts → attribute access (test_cfg)
            model.init_weights()
    finally:
        logger.setLevel(level)
    return model


__all__ = [
    "YOLOV3_ANCHORS_416", "build_detector", "packaged_model_config", "retinanet_config", "scaled_yolov3_anchors",
    "yolov3_config",
]
