"""Our mmseg losses for binary heads: ``LabelMapFocalLoss`` and ``ForegroundDiceLoss``, registered in mmseg's
``MODELS`` under those names.

``LabelMapFocalLoss``: mmseg 1.2.2's sigmoid ``FocalLoss`` mishandles class-index targets (an ``[N, H, W]``
label map) on CPU. Its CPU branch one-hot encodes the labels to ``C + 1`` columns and then keeps the single
column ``target[:, C]`` instead of the first ``C`` (``target[:, :C]``; for ``C == 1`` the foreground column
1). With ``C > 1`` the loss stops with a shape error; with ``C == 1`` (``out_channels=1``) it first broadcasts
``[P]`` against ``[P, 1]`` pixels into a ``[P, P]`` focal weight (40 GB at 224 px, batch 2) and only then
fails in ``binary_cross_entropy_with_logits`` (``ValueError: Target size ... must be the same as input
size``). The CUDA branch is right. The subclass turns the label map into the ``[N, C, H, W]``
one-hot target the CUDA branch uses
(label ``c`` → channel ``c``; with ``C == 1`` label 1 is the foreground) and hands it to mmseg's own
same-shape code path, with ignored pixels weighted 0; on CUDA and for one-hot targets it is mmseg's
``FocalLoss`` unchanged.

``ForegroundDiceLoss``: mmseg 1.2.2's ``DiceLoss`` one-hot encodes an ``[N, H, W]`` label map to as many
channels as the prediction has; with a single sigmoid channel (``out_channels=1``, mmseg's recommended binary
set-up) that one channel becomes the **background** indicator (``one_hot(target, 2)[..., :1]``), so the loss
would train the head towards the background mask. This subclass hands mmseg's ``dice_loss`` the foreground
target ``[N, 1, H, W]`` itself (pixels labelled ``ignore_index`` are masked out of both terms); everything else
(sigmoid activation, V-Net or naive Dice, weights, reductions) is mmseg's own code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmseg.models.losses import DiceLoss, FocalLoss
from mmseg.models.losses.dice_loss import dice_loss
from mmseg.registry import MODELS


class LabelMapFocalLoss(FocalLoss):
    """mmseg's sigmoid focal loss, also right on CPU for an ``[N, d_1, ...]`` label map as target.

    ``pred`` ``[N, C, d_1, ...]`` logits; ``target`` either class indices ``[N, d_1, ...]`` (values in
    ``0..C``, where ``C`` means "no class" for ``C > 1``, and 0 is background for ``C == 1``; pixels equal
    to ``ignore_index`` do not count) or a one-hot/soft target of ``pred``'s shape. Reductions are mmseg's:
    ``mean`` averages over all ``N·d·C`` elements, ignored ones counting as 0. ``weight``, if given, is
    mmseg's flattened per-pixel ``[P]`` or per-element ``[P, C]`` weight (``P = N·d_1·...``).
    """

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None, ignore_index=255, **kwargs):
        """The weighted focal loss of ``pred`` against ``target`` (a scalar, or ``pred``'s shape for ``none``)."""
        if pred.is_cuda or pred.shape == target.shape:
            return super().forward(pred, target, weight, avg_factor, reduction_override, ignore_index, **kwargs)
        num_classes = pred.size(1)
        valid = target != ignore_index  # [N, d_1, ...]
        one_hot = F.one_hot(torch.where(valid, target, 0), num_classes + 1)  # [N, d_1, ..., C + 1]
        one_hot = one_hot[..., 1:2] if num_classes == 1 else one_hot[..., :num_classes]  # [N, d_1, ..., C]
        one_hot = one_hot.movedim(-1, 1)  # [N, C, d_1, ...]
        valid = valid.reshape(-1, 1).to(pred.dtype)  # [P, 1], mmseg's flattening order (batch, then pixels)
        if weight is not None:
            if weight.size(0) != valid.size(0):
                raise ValueError(f"LabelMapFocalLoss: weight {tuple(weight.shape)} is not per pixel: expected "
                                 f"[{valid.size(0)}] or [{valid.size(0)}, {num_classes}]")
            valid = valid * (weight.reshape(-1, 1) if weight.dim() == 1 else weight)
        # A same-shape target takes mmseg's CPU path that is right; its own mask (argmax != ignore_index)
        # cannot tell ignored pixels from one-hot rows, so they are weighted 0 here and the mask is disarmed (-1).
        return super().forward(pred, one_hot, valid, avg_factor, reduction_override, -1, **kwargs)


class ForegroundDiceLoss(DiceLoss):
    """Dice loss of a one-channel sigmoid head against the foreground (label 1) of an ``[N, H, W]`` map."""

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None, ignore_index=255, **kwargs):
        """``pred`` ``[N, 1, H, W]`` logits, ``target`` ``[N, H, W]`` labels → the weighted Dice loss."""
        if pred.shape[1] != 1:
            return super().forward(pred, target, weight, avg_factor, reduction_override, ignore_index, **kwargs)
        reduction = reduction_override or self.reduction
        valid = (target != ignore_index).unsqueeze(1).to(pred.dtype)  # [N, 1, H, W]
        foreground = (target == 1).unsqueeze(1).to(pred.dtype) * valid  # [N, 1, H, W]
        prob = (pred.sigmoid() if self.activate else pred) * valid
        return self.loss_weight * dice_loss(
            prob, foreground, weight, eps=self.eps, reduction=reduction, naive_dice=self.naive_dice,
            avg_factor=avg_factor, ignore_index=None,
        )


MODELS.register_module(name="LabelMapFocalLoss", module=LabelMapFocalLoss, force=True)
MODELS.register_module(name="ForegroundDiceLoss", module=ForegroundDiceLoss, force=True)

__all__ = ["ForegroundDiceLoss", "LabelMapFocalLoss"]
