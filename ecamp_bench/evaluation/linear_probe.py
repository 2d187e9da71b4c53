"""Linear heads on frozen global features, the machinery of the ``linear`` protocol shared with other code.

- :func:`pool_features`: the frozen, cached global features of ``ctx.pool`` (:mod:`ecamp_bench.evaluation.features`;
  the ``linear`` and ``knn`` protocols); :func:`weights_identity` is the weights part of their cache key.
- :func:`train_linear_head`: AdamW on a ``Linear(D, C)``, mini-batches shuffled with the seed, early stopping on
  val loss, the best-val-loss head returned (MGCA recipe; also the parity benchmark's).
- :func:`classification_loss` / :func:`probabilities`: BCE-with-logits and sigmoid per label, or softmax
  cross-entropy and softmax for a single-label task (also the ``finetune`` protocol's).

The protocol itself (its values and its ``run``) is ``ecamp_bench_plugins.protocols.linear``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ecamp_bench.evaluation.context import RunContext
from ecamp_bench.evaluation.features import cached_features
from ecamp_bench.models.backbone import Backbone, state_digest
from ecamp_bench.models.checkpoints import weights_sha256


def weights_identity(ctx: RunContext, backbone: Backbone) -> str:
    """The weights part of the feature-cache key: file sha256 (+ adapter), or the digest of a random init."""
    if ctx.weights_path is None:
        return "init:" + state_digest(backbone.encoder)
    digest = ctx.weights_sha256 or weights_sha256(ctx.weights_path)  # a context built outside the runner
    return f"file:{digest}:{ctx.backbone.adapt_state_dict or ''}"


def classification_loss(single_label: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(logits [B, C], targets [B, C])``: cross-entropy on the one-hot targets' argmax, else BCE-with-logits."""
    if not single_label:
        return nn.BCEWithLogitsLoss()
    cross_entropy = nn.CrossEntropyLoss()
    return lambda logits, targets: cross_entropy(logits, targets.argmax(dim=1))


def probabilities(logits: torch.Tensor, single_label: bool) -> torch.Tensor:
    """Scores ``[B, C]`` from logits: softmax over classes (single-label) or a sigmoid per label."""
    return torch.softmax(logits, dim=1) if single_label else torch.sigmoid(logits)


def train_linear_head(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    params,
    *,
    seed: int,
    device: torch.device,
    advance=lambda n=1: None,
    single_label: bool = False,
) -> nn.Linear:
    """Train ``Linear(D, C)`` on ``x_train [N, D]``/``y_train [N, C]``; return the head with the best val loss.

    ``single_label``: the targets are one-hot and the loss is softmax cross-entropy (else BCE-with-logits).
    """
    torch.manual_seed(seed)
    head = nn.Linear(x_train.shape[1], y_train.shape[1]).to(device)
    optim = torch.optim.AdamW(head.parameters(), lr=params.lr, betas=tuple(params.betas),
                              weight_decay=params.weight_decay)
    loss_fn = classification_loss(single_label)
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))
    best_loss, best_state, stale = float("inf"), copy.deepcopy(head.state_dict()), 0
    for _ in range(params.max_epochs):
        head.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        for start in range(0, len(order), params.batch_size):
            batch = order[start : start + params.batch_size]
            optim.zero_grad(set_to_none=True)
            loss_fn(head(x_train[batch]), y_train[batch]).backward()  # logits [b, C]
            optim.step()
        head.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(head(x_val), y_val)) if len(x_val) else 0.0
        advance(1)
        if val_loss < best_loss - 1e-7:
            best_loss, best_state, stale = val_loss, copy.deepcopy(head.state_dict()), 0
        else:
            stale += 1
            if stale >= params.patience:
                break
    head.load_state_dict(best_state)
    return head


def pool_features(ctx: RunContext, batch_size: int) -> Callable[[object], np.ndarray]:
    """The frozen global features of ``ctx.pool`` (cached, see :mod:`ecamp_bench.evaluation.features`), as a function
    ``table → [N, D]`` float32 rows in the table's order. Shared by the ``linear`` and ``knn`` protocols."""
    backbone = ctx.build_backbone()
    backbone.requires_grad_(False)
    row_of, features, _ = cached_features(
        backbone,
        weights_identity(ctx, backbone),
        ctx.pool,
        ctx.cache_dir,
        device=ctx.device,
        batch_size=batch_size,
        num_workers=ctx.num_workers,
        progress=ctx.progress,
        dist=ctx.dist,
    )
    del backbone
    from ecamp_bench.evaluation.finite import require_finite

    require_finite(features, "frozen features")  # a NaN encoder: say so before the head trains on it
    return lambda table: features[[row_of[i] for i in table.ids]]
