"""Protocol ``linear`` (MGCA lineage): frozen encoder, linear head on cached global features.

Published values (MGCA ``ssl_finetuner.py``, docs/protocols.md): AdamW lr 5e-4, betas (0.9, 0.999),
weight decay 1e-6, batch size 48, at most 50 epochs, early stopping on val loss with patience 10, the best
val-loss head is tested. This module is the one source of these values: the dataclass defaults are the
published values, ``ProtocolSpec.presets`` the named presets (``tiny`` for CPU smoke runs).

:func:`run`: features of every image of ``ctx.pool`` are extracted once per (weights, preprocessing, image set) and
cached (:mod:`ecamp_bench.evaluation.features`), so each fraction and seed only trains the head: AdamW,
BCE-with-logits (cross-entropy over the one-hot targets for a single-label task), mini-batches shuffled with the
run seed, early stopping on val loss, and the head with the best val loss scores the test set (sigmoid
probabilities; softmax for a single-label task). Under DDP the ranks share the feature extraction; the head is
small and every rank trains the same one (same features, same seed). The head trainer and the cached features are
shared with other code (:mod:`ecamp_bench.evaluation.linear_probe`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class LinearParams:
    """Hyper-parameters of the linear probe (defaults = MGCA's published values)."""

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-6
    batch_size: int = 48
    max_epochs: int = 50
    patience: int = 10
    feature_batch_size: int = 64


# Small synthetic sets: a few dozen training images give too few AdamW steps at 5e-4.
TINY = {"lr": 1e-2, "batch_size": 16, "max_epochs": 100, "patience": 10}


def run(ctx):
    """Linear probe: cached features of ``ctx.pool`` → head trained on train, selected on val → test scores."""
    import numpy as np
    import torch

    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.evaluation.linear_probe import pool_features, probabilities, train_linear_head

    params = ctx.params
    features_of = pool_features(ctx, params.feature_batch_size)

    def rows(table) -> torch.Tensor:
        return torch.from_numpy(features_of(table))  # [N, D]

    y_train, y_val = (torch.from_numpy(ctx.targets(t)) for t in (ctx.train, ctx.val))
    single = ctx.task.single_label
    with ctx.progress.bar("linear head (epochs)", params.max_epochs) as advance:
        head = train_linear_head(
            rows(ctx.train), y_train, rows(ctx.val), y_val, params, seed=ctx.seed, device=ctx.device, advance=advance,
            single_label=single,
        )
    with torch.no_grad():
        scores = probabilities(head(rows(ctx.test).to(ctx.device)), single).cpu().numpy()  # [N_test, C]
    return Predictions(
        ids=tuple(ctx.test.ids),
        targets=None,  # the task attaches its ground truth
        scores=np.asarray(scores, dtype=np.float32),
        label_names=ctx.labels,
    )


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The linear-probe protocol."""
    return [
        ProtocolSpec(
            name="linear",
            version=1,
            kinds=("classification",),
            params=LinearParams,
            run="ecamp_bench_plugins.protocols.linear:run",
            presets={"tiny": TINY},
            description="frozen encoder + linear head on cached features (MGCA); best val loss -> test",
            lineage="MGCA (NeurIPS 2022) linear classification",
        )
    ]
