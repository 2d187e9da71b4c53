"""The weighted MLM loss of ECAMP (reference convention, docs/method.md)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ecamp_bench.text.masking import TextBatch


def mlm_loss(logits: torch.Tensor, batch: TextBatch, layout: Literal["flat", "reference"] = "flat") -> torch.Tensor:
    """Cross-entropy against the original ids at each position × its weight, averaged over ``loss_mask``.

    logits: [B, L, V] at every position, or [K, V] at the K positions where ``batch.loss_mask`` is 1 (row-major
    order: what ``ECAMP.forward(..., mlm_positions=loss_mask)`` returns). With ``mlm_targets="all"`` (the
    reference) every position counts, padding included, and the sum is divided by B × L. With
    ``mlm_targets="masked"`` only masked positions count and the sum is divided by their number. Returns a scalar.

    ``layout="flat"`` computes the cross-entropy on ``[B·L, V]`` rows (contiguous classes: 1.9–2.6× faster
    forward + backward on CPU); ``"reference"`` on ``logits.transpose(1, 2)`` as the reference does (same value,
    kept for the reference-equivalent benchmark).
    """
    loss_mask = batch.loss_mask
    if logits.dim() == 2:  # only the positions that carry loss
        keep = loss_mask.bool()
        per_token = F.cross_entropy(logits.float(), batch.target_ids[keep], reduction="none")  # [K]
        total = (per_token * batch.weights[keep].to(per_token.dtype)).sum()
        return total / loss_mask.sum().clamp_min(1.0)
    if layout == "reference":
        per_token = F.cross_entropy(logits.transpose(1, 2).float(), batch.target_ids, reduction="none")  # [B, L]
    else:
        v = logits.shape[-1]
        per_token = F.cross_entropy(logits.reshape(-1, v).float(), batch.target_ids.reshape(-1), reduction="none")
        per_token = per_token.view(batch.target_ids.shape)  # [B, L]
    loss_mask = loss_mask.to(per_token.dtype)
    total = (per_token * batch.weights.to(per_token.dtype) * loss_mask).sum()
    return total / loss_mask.sum().clamp_min(1.0)
