"""Protocol ``det``: a modern detector (MMDetection RetinaNet) on a ViTDet-style simple feature pyramid.

Our backbone's four maps (one ViT, taps resampled to strides 4/8/16/32) feed mmdet's ``FPN`` (outputs at
strides 8-128) and ``RetinaHead`` (focal loss, 9 anchors per location). The encoder is fine-tuned by default
(``frozen: false``, ViT lr = ``lr * backbone_lr_scale``) or frozen by config. Not a published protocol:
the values are ours (this module is their one source), with the same selection rule as ``frozen-det``
(best val mAP, early stopping) and MGCA's input handling (resized straight to the evaluated size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class DetParams:
    """Hyper-parameters of the RetinaNet protocol."""

    frozen: bool = False
    lr: float = 1e-4
    batch_size: int = 16
    backbone_lr_scale: float = 0.1  # ViT lr = lr * backbone_lr_scale when fine-tuned
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05
    max_epochs: int = 50
    patience: int = 10  # early stopping on val map_40_75
    image_size: int = field(default=0, metadata={"meaning": "0 = the backbone's input size"})
    fpn_channels: int = 256
    stacked_convs: int = 4
    anchor_scale: int = 4  # RetinaNet octave_base_scale: anchors 4x the stride (and 2^(1/3), 2^(2/3))
    nms_iou: float = 0.5
    score_threshold: float = 0.05
    hflip: bool = True
    eval_batch_size: int = 32


def run(ctx):
    """Train RetinaNet (encoder frozen or fine-tuned per ``frozen``) and predict the test split."""
    from ecamp_bench.mm.det_config import retinanet_config
    from ecamp_bench.mm.det_train import train_and_predict

    p = ctx.params

    def make_config(size: int) -> dict:
        return retinanet_config(ctx.backbone, ctx.weights_path, size=size,
                                fpn_channels=p.fpn_channels, stacked_convs=p.stacked_convs,
                                anchor_scale=p.anchor_scale, nms_iou=p.nms_iou,
                                score_threshold=p.score_threshold, frozen=p.frozen)

    return train_and_predict(ctx, make_config, frozen=bool(p.frozen))


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The RetinaNet detection protocol."""
    return [
        ProtocolSpec(
            name="det",
            version=1,
            kinds=("detection",),
            params=DetParams,
            run="ecamp_bench_plugins.protocols.det:run",
            presets={"tiny": {"max_epochs": 4, "patience": 4, "lr": 1e-3, "fpn_channels": 32,
                              "stacked_convs": 1, "anchor_scale": 2, "image_size": 128}},
            description="MMDetection RetinaNet + FPN on the backbone pyramid (ViT: ViTDet-style; CNN: C2-C5), "
                        "frozen or fine-tuned",
            lineage="ViTDet-style modern detector (ours)",
        )
    ]
