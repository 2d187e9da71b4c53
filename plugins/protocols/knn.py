"""Protocol ``knn``: a k-nearest-neighbour probe on the frozen, cached global features (no head is trained).

The rule is DINO's weighted k-NN classifier (Caron et al., ICCV 2021, "Emerging Properties in Self-Supervised
Vision Transformers", sec. 4.1 / appendix): features are L2-normalised, the similarity of a query to a training
image is their cosine, the ``k`` most similar training images vote with weight ``exp(cos / T)`` (``T`` = 0.07),
and a label's score is the weighted share of votes for it, ``sum_j w_j y_jc / sum_j w_j`` in ``[0, 1]``:

- multi-label tasks: one such score per label from the neighbours' 0/1 targets (each label independently);
- single-label tasks: the same over one-hot targets, i.e. the weighted class votes, normalised to sum to 1.

``k`` is chosen on the val split from ``ks`` (5, 20, 200; capped at the number of training images): the mean
per-label ROC AUC for multi-label tasks, top-1 accuracy for single-label ones; a tie goes to the smaller ``k``, and
without a usable val split the middle value (20) is used. The chosen ``k`` and the val scores are logged. Features
come from the linear protocol's cache (:mod:`ecamp_bench.evaluation.features`), so a k-NN run after a linear run
of the same backbone costs a few matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class KnnParams:
    """Hyper-parameters of the k-NN probe (defaults = DINO's rule)."""

    ks: tuple[int, ...] = (5, 20, 200)
    temperature: float = 0.07
    feature_batch_size: int = 64
    query_batch_size: int = 1024


def knn_scores(train_x, train_y, query_x, k: int, temperature: float, batch_size: int = 1024):
    """Weighted k-NN scores ``[Q, C]`` of ``query_x [Q, D]`` against ``train_x [N, D]`` with targets ``train_y [N, C]``.

    Features are L2-normalised here; ``k`` is capped at ``N``. Returns float32 numpy scores in ``[0, 1]``.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    train = F.normalize(torch.as_tensor(train_x, dtype=torch.float32), dim=1)  # [N, D]
    targets = torch.as_tensor(train_y, dtype=torch.float32)  # [N, C]
    query = F.normalize(torch.as_tensor(query_x, dtype=torch.float32), dim=1)  # [Q, D]
    k = max(1, min(int(k), len(train)))
    out = []
    for start in range(0, len(query), batch_size):
        sims = query[start : start + batch_size] @ train.T  # [q, N]
        top, index = sims.topk(k, dim=1)  # [q, k]
        weights = (top / temperature).exp()  # [q, k]
        votes = (weights.unsqueeze(2) * targets[index]).sum(1)  # [q, C]
        out.append(votes / weights.sum(1, keepdim=True))
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, targets.shape[1]), np.float32)


def selection_score(targets, scores, single_label: bool) -> float:
    """What ``k`` is chosen by on val: top-1 accuracy (single-label) or the mean of the defined per-label AUCs."""
    import numpy as np

    from ecamp_bench.evaluation.metrics import binary_auc

    if single_label:
        return float((scores.argmax(1) == targets.argmax(1)).mean())
    aucs = [binary_auc(targets[:, c], scores[:, c]) for c in range(targets.shape[1])]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else float("nan")


def choose_k(train_x, train_y, val_x, val_y, params: KnnParams, single_label: bool) -> tuple[int, dict[int, float]]:
    """``(k, {k: val score})``: the best ``k`` of ``params.ks`` on val (ties → smaller; no val → the middle one)."""
    import math

    ks = sorted({max(1, min(int(k), len(train_x))) for k in params.ks})
    scored = {}
    if len(val_x):
        for k in ks:
            scored[k] = selection_score(
                val_y, knn_scores(train_x, train_y, val_x, k, params.temperature, params.query_batch_size), single_label
            )
    finite = {k: v for k, v in scored.items() if not math.isnan(v)}
    if not finite:
        return ks[len(ks) // 2], scored
    best = max(finite.values())
    return min(k for k, v in finite.items() if v == best), scored


def run(ctx):
    """k-NN probe: cached features of ``ctx.pool`` → ``k`` chosen on val → scores of the test images."""
    import numpy as np

    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.evaluation.linear_probe import pool_features

    params = ctx.params
    rows = pool_features(ctx, params.feature_batch_size)  # table -> [N, D]
    single = ctx.task.single_label
    train_x, train_y = rows(ctx.train), ctx.targets(ctx.train)
    k, val_scores = choose_k(train_x, train_y, rows(ctx.val), ctx.targets(ctx.val), params, single)
    scores = knn_scores(train_x, train_y, rows(ctx.test), k, params.temperature, params.query_batch_size)
    ctx.progress.log(f"knn: k = {k} (val: {', '.join(f'{a}: {b:.4f}' for a, b in val_scores.items())})")
    return Predictions(
        ids=tuple(ctx.test.ids), targets=None, scores=np.asarray(scores, dtype=np.float32), label_names=ctx.labels
    )


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The k-NN probe protocol."""
    return [
        ProtocolSpec(
            name="knn",
            version=1,
            kinds=("classification",),
            params=KnnParams,
            run="ecamp_bench_plugins.protocols.knn:run",
            presets={"tiny": {}},
            description="frozen encoder, weighted k-NN on cached features (cosine, exp(cos/0.07) votes, k in 5/20/200 "
            "chosen on val); no head trained",
            lineage="DINO (ICCV 2021) weighted k-NN classifier",
        )
    ]
