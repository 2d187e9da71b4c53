"""Protocol params → mmseg model and mmengine schedule configs (plain dicts, built in Python).

Two segmentors, both mmseg ``EncoderDecoder`` on :class:`~ecamp_bench.mm.backbone.EcampBenchBackbone`, with a
one-channel sigmoid output (``num_classes=2, out_channels=1, threshold=0.5``) and our ``LabelMapFocalLoss``
(mmseg's sigmoid focal loss, right on CPU too) + ``ForegroundDiceLoss`` (see ``seg_losses``; import it to
register both before building):

- ``frozen`` (MGCA/ECAMP lineage): frozen encoder; mmseg's ``SETRUPHead`` (progressive upsampling,
  ``num_convs`` × (conv 3×3 → ×2 upsample), then resized to the input) on the encoder's last map: a ViT's
  last block at stride 16, a CNN's last stage (ResNet-50 ``layer4``, stride 32).
- ``finetune`` (MRM lineage): trainable encoder; ``UPerHead`` on the four pyramid maps (strides 4/8/16/32)
  plus an auxiliary ``FCNHead`` on the stride-16 map.

Every head's ``in_channels`` comes from the backbone (:func:`~ecamp_bench.models.backbone.describe_backbone`):
``D`` at every level for a ViT, the stage widths for a CNN.

The data preprocessor divides uint8 images by 255 (mean 0, std 255); the backbone wrapper normalises.
"""

from __future__ import annotations

from typing import Any, Literal

from ecamp_bench.errors import ConfigError
from ecamp_bench.specs import BackboneSpec

Mode = Literal["frozen", "finetune"]


def _losses(params: Any) -> list[dict]:
    return [
        dict(type="LabelMapFocalLoss", use_sigmoid=True, gamma=float(params.focal_gamma),
             alpha=float(params.focal_alpha), loss_weight=float(params.focal_weight), loss_name="loss_focal"),
        dict(type="ForegroundDiceLoss", use_sigmoid=True, naive_dice=True, loss_weight=float(params.dice_weight),
             loss_name="loss_dice"),
    ]


def segmentor_cfg(params: Any, *, spec: BackboneSpec, weights: str | None, mode: Mode) -> dict:
    """The mmseg model config of a protocol (``mode``) for ``spec`` with ``weights`` (``None``: random init)."""
    from ecamp_bench.mm.backbone import spec_to_dict

    from ecamp_bench.models.backbone import describe_backbone

    size = int(params.image_size)
    layout = describe_backbone(spec)
    channels = list(layout.out_channels)
    norm = dict(type="BN", requires_grad=True)
    binary = dict(num_classes=2, out_channels=1, threshold=0.5, align_corners=False)
    backbone = dict(type="EcampBenchBackbone", spec=spec_to_dict(spec), weights=weights, img_size=size, strict=True)
    if mode == "frozen":
        if layout.family == "vit":  # the last block, at the patch stride
            backbone.update(frozen=True, out_indices=(2,), feature_indices=(-1, -1, -1, -1))
            dim = channels[2]
        else:  # the last stage
            backbone.update(frozen=True, out_indices=(3,))
            dim = channels[3]
        decode_head = dict(
            type="SETRUPHead", in_channels=dim, channels=int(params.decoder_channels), in_index=0,
            num_convs=int(params.decoder_convs), up_scale=2, kernel_size=3, norm_cfg=norm,
            loss_decode=_losses(params), **binary,
        )
        auxiliary_head = None
    elif mode == "finetune":
        backbone.update(frozen=False, out_indices=(0, 1, 2, 3))
        decode_head = dict(
            type="UPerHead", in_channels=channels, in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
            channels=int(params.decoder_channels), dropout_ratio=0.1, norm_cfg=norm, loss_decode=_losses(params),
            **binary,
        )
        aux_losses = _losses(params)
        for loss in aux_losses:
            loss["loss_weight"] *= float(params.aux_weight)
        auxiliary_head = dict(
            type="FCNHead", in_channels=channels[2], in_index=2, channels=int(params.aux_channels), num_convs=1,
            concat_input=False, dropout_ratio=0.1, norm_cfg=norm, loss_decode=aux_losses, **binary,
        )
    else:
        raise ConfigError(f"unknown segmentation mode '{mode}' (valid: frozen, finetune)")
    model = dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0],
                               bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size=(size, size)),
        backbone=backbone, decode_head=decode_head, train_cfg=dict(), test_cfg=dict(mode="whole"),
    )
    if auxiliary_head is not None:
        model["auxiliary_head"] = auxiliary_head
    return model


def schedule_cfg(params: Any) -> dict:
    """``train_cfg``, ``val_cfg`` and ``param_scheduler`` for the Runner.

    ``params.epochs > 0`` → epoch-based training validated every ``val_interval`` epochs; otherwise
    ``params.iters`` iterations validated every ``val_interval`` iterations. A linear warm-up of
    ``warmup_iters`` then a ``poly_power`` polynomial decay when ``params.poly_power > 0``; else a constant lr.
    """
    epochs, iters = int(params.epochs), int(params.iters)
    if (epochs > 0) == (iters > 0):
        raise ConfigError(f"segmentation protocol: set exactly one of epochs ({epochs}) and iters ({iters}) > 0")
    interval = int(params.val_interval)
    if interval < 1:
        raise ConfigError(f"segmentation protocol: val_interval must be >= 1, got {interval}")
    by_epoch = epochs > 0
    train_cfg = (dict(by_epoch=True, max_epochs=epochs, val_interval=interval) if by_epoch
                 else dict(by_epoch=False, max_iters=iters, val_interval=interval))
    schedulers: list[dict] = []
    warmup = int(params.warmup_iters)
    if warmup > 0:
        schedulers.append(dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=warmup))
    if float(params.poly_power) > 0:
        end = dict(end=epochs, by_epoch=True) if by_epoch else dict(end=iters, by_epoch=False)
        schedulers.append(dict(type="PolyLR", power=float(params.poly_power), eta_min=0.0,
                               begin=warmup if not by_epoch else 0, **end))
    return {"train_cfg": train_cfg, "val_cfg": dict(), "param_scheduler": schedulers or None}


__all__ = ["schedule_cfg", "segmentor_cfg"]
