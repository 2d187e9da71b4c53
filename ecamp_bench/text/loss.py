"""The weighted MLM loss of ECAMP (reference convention, ECAMP_METHOD.md §2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecamp_bench.text.masking import TextBatch


def mlm_loss(logits: torch.Tensor, batch: TextBatch) -> torch.Tensor:
    """Cross-entropy against the original ids at each position × its weight, averaged over ``loss_mask``.

    logits: [B, L, V]. With ``mlm_targets="all"`` (the reference) every position counts, padding included,
    and the sum is divided by B × L. With ``mlm_targets="masked"`` only masked positions count and the sum is
    divided by their number. Returns a scalar.
    """
    per_token = F.cross_entropy(logits.transpose(1, 2).float(), batch.target_ids, reduction="none")  # [B, L]
    loss_mask = batch.loss_mask.to(per_token.dtype)
    total = (per_token * batch.weights.to(per_token.dtype) * loss_mask).sum()
    return total / loss_mask.sum().clamp_min(1.0)
