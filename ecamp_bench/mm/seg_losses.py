"""``ForegroundDiceLoss``: mmseg's Dice loss for binary heads with one output channel (foreground only).

mmseg 1.2.2's ``DiceLoss`` one-hot encodes an ``[N, H, W]`` label map to as many channels as the
prediction has; with a single sigmoid channel (``out_channels=1``, mmseg's recommended binary set-up) that
one channel becomes the **background** indicator (``one_hot(target, 2)[..., :1]``), so the loss would
train the head towards the background mask. This subclass hands mmseg's ``dice_loss`` the foreground
target ``[N, 1, H, W]`` itself (pixels labelled ``ignore_index`` are masked out of both terms); everything else
(sigmoid activation, V-Net or naive Dice, weights, reductions) is mmseg's own code.
"""

from __future__ import annotations

from mmseg.models.losses import DiceLoss
from mmseg.models.losses.dice_loss import dice_loss
from mmseg.registry import MODELS


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
        )  # fmt: skip


MODELS.register_module(name="ForegroundDiceLoss", module=ForegroundDiceLoss, force=True)

__all__ = ["ForegroundDiceLoss"]
