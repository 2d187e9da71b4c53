"""Protocol ``frozen-det`` (MGCA/ECAMP lineage): frozen encoder, MMDetection YOLOv3 head on three scales.

Published values (MGCA ``mgca_detector.py`` / ECAMP ``ViTDetector``, docs/protocols.md): YOLOv3 head on three
scales of the frozen encoder, YOLOv3's 416-px anchors scaled to the 224-px input, 1 class, objectness
threshold 0.5, NMS IoU 0.5; AdamW, 1%: lr 2e-4 and batch 8, 10%/100%: lr 5e-4 and batch 16; weight decay
1e-6, at most 50 epochs, early stopping on val mAP with patience 10; no augmentation. The neck widths
(mmdet's YOLOv3 defaults 512/256/128) and ``score_threshold`` (mmdet's 0.05) are ours. This module is the
one source of these values (defaults = published, ``presets`` = named overrides; ``tiny`` for CPU smoke runs).
The defaults are the 10 %/100 % values; MGCA's 1 % values are in the ``mgca`` recipe (``--recipe mgca``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class FrozenDetParams:
    """Hyper-parameters of the frozen-encoder YOLOv3 protocol (defaults = MGCA's published values)."""

    lr: float = 5e-4  # 10% and 100% (1%: the mgca recipe)
    batch_size: int = 16
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-6
    max_epochs: int = 50
    patience: int = 10  # early stopping on val map_40_75
    image_size: int = field(default=0, metadata={"meaning": "0 = the backbone's input size"})  # ViT-B/16: 224
    neck_channels: tuple[int, int, int] = (512, 256, 128)  # mmdet's YOLOv3 neck widths (ours)
    confidence: float = 0.5  # objectness threshold
    nms_iou: float = 0.5
    score_threshold: float = 0.05  # mmdet's default class-score floor (ours)
    hflip: bool = False  # MGCA: no augmentation
    eval_batch_size: int = 32


def run(ctx):
    """Train the YOLOv3 head on the frozen encoder and predict the test split."""
    from ecamp_bench.mm.det_config import yolov3_config
    from ecamp_bench.mm.det_train import train_and_predict

    p = ctx.params

    def make_config(size: int) -> dict:
        return yolov3_config(ctx.backbone, ctx.weights_path, size=size,
                             neck_channels=tuple(p.neck_channels), confidence=p.confidence, nms_iou=p.nms_iou,
                             score_threshold=p.score_threshold, frozen=True)

    return train_and_predict(ctx, make_config, frozen=True)


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The frozen-encoder YOLOv3 detection protocol."""
    return [
        ProtocolSpec(
            name="frozen-det",
            version=1,
            kinds=("detection",),
            params=FrozenDetParams,
            run="ecamp_bench_plugins.protocols.frozen_det:run",
            presets={"tiny": {"max_epochs": 4, "patience": 4, "lr": 2e-3,
                              "neck_channels": (64, 32, 16), "image_size": 128}},
            description="frozen encoder + MMDetection YOLOv3 head on 3 scales (MGCA/ECAMP); best val mAP -> test",
            lineage="MGCA (NeurIPS 2022) / ECAMP RSNA detection",
        )
    ]
