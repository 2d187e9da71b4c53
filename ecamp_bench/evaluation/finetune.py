"""The ``finetune`` protocol: every encoder weight trained with a linear head (MRM/ECAMP recipe).

Step-based training: ``steps`` optimiser steps over shuffled, augmented train batches (random resized
crop + horizontal flip); lr = base × linear warmup over ``warmup_steps`` then cosine decay to 0; per-layer
base lr and weight decay from :func:`~ecamp_bench.evaluation.param_groups.backbone_param_groups` (timm's
layer decay; no decay on 1-D tensors and the model's ``no_weight_decay()`` names such as ``pos_embed``). Every ``eval_every``
steps (and at the end) the val macro AUC is computed (val accuracy for a single-label task, which trains
with softmax cross-entropy); the best state (val loss breaks ties and stands in when val has a single class)
scores the test set.

Under DDP the model is wrapped in ``DistributedDataParallel``: ``batch_size`` stays the global batch (each
of the W ranks takes ``batch_size / W`` images of a ``DistributedSampler``), and val/test predictions are
sharded over the ranks and gathered, so every rank selects the same state.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from ecamp_bench.data.samples import SampleTable
from ecamp_bench.distributed import DistInfo, gather_rows, rank_batch_size, wrap_ddp
from ecamp_bench.evaluation.context import Predictions, RunContext
from ecamp_bench.evaluation.features import image_loader, shard_of
from ecamp_bench.evaluation.linear_probe import classification_loss, probabilities
from ecamp_bench.evaluation.metrics import auc_with_ci
from ecamp_bench.evaluation.param_groups import backbone_param_groups
from ecamp_bench.models.backbone import Backbone


class Classifier(nn.Module):
    """Backbone global feature → (optional feature BatchNorm) → linear head: ``[B, 3, H, W]`` → logits ``[B, C]``.

    ``head_norm="batchnorm"`` puts a ``BatchNorm1d`` without affine parameters before the head (MAE's linear
    probe, after MoCo v3, which "calibrates the feature magnitudes"): the head then sees every feature at unit
    variance over the images, so its learning speed does not depend on how far apart the images' pooled
    features lie (per-dimension spread 0.1 around a common mean for the demo's small ViTs).
    """

    def __init__(self, backbone: Backbone, n_classes: int, head_init_std: float, head_norm: str = "none"):
        super().__init__()
        self.backbone = backbone
        self.norm = nn.BatchNorm1d(backbone.num_features, affine=False, eps=1e-6) if head_norm == "batchnorm" else None
        self.head = nn.Linear(backbone.num_features, n_classes)
        nn.init.trunc_normal_(self.head.weight, std=head_init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]``."""
        features = self.backbone.forward_global(x)  # [B, D]
        return self.head(features if self.norm is None else self.norm(features))


def random_resized_crop(scale_min: float, hflip: bool):
    """An augmentation ``(x [3, S, S], generator) -> [3, S, S]``: crop area in ``[scale_min, 1]``, ratio in
    [3/4, 4/3], resize back, optional horizontal flip; every draw comes from ``generator`` (one per sample)."""

    def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        g = generator
        size = x.shape[-1]
        area = float(torch.empty(1).uniform_(scale_min, 1.0, generator=g)) * size * size
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)))
        w = max(1, min(size, round(math.sqrt(area * ratio))))
        h = max(1, min(size, round(math.sqrt(area / ratio))))
        top = int(torch.randint(0, size - h + 1, (1,), generator=g))
        left = int(torch.randint(0, size - w + 1, (1,), generator=g))
        crop = x[:, top : top + h, left : left + w][None]  # [1, 3, h, w]
        out = nn.functional.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]
        if hflip and bool(torch.rand(1, generator=g) < 0.5):
            out = out.flip(-1)
        return out

    return augment


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The lr multiplier at ``step`` (0-based): linear warmup to 1, then cosine to 0 at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def predict(model: Classifier, loader, device: torch.device, single_label: bool = False) -> np.ndarray:
    """Scores ``[N, C]`` in loader order: sigmoid per label, or softmax over classes when ``single_label``."""
    model.eval()
    chunks = [probabilities(model(images.to(device)), single_label).float().cpu() for images, _ in loader]
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, model.head.out_features), dtype=np.float32)


def predict_table(model: Classifier, table: SampleTable, *, batch_size: int, device: torch.device,
                  num_workers: int = 0, dist: DistInfo | None = None, single_label: bool = False) -> np.ndarray:  # fmt: skip
    """Scores ``[N, C]`` for every image of ``table`` in table order (sharded over the ranks under DDP)."""
    dist = dist or DistInfo()
    mine, part = shard_of(table, dist)
    loader = image_loader(part, model.backbone, batch_size=batch_size, num_workers=num_workers)
    return gather_rows(len(table), mine, predict(model, loader, device, single_label), dist)


def _val_objective(targets: np.ndarray, scores: np.ndarray, single_label: bool = False) -> tuple[float, float]:
    """(val macro AUC or -inf, -val BCE), or (val accuracy, -val cross-entropy) for a single-label task.

    Larger is better, compared lexicographically.
    """
    eps = 1e-6
    if single_label:
        if not len(targets):
            return (-math.inf, 0.0)
        truth = targets.argmax(axis=1)
        accuracy = float((scores.argmax(axis=1) == truth).mean())
        return (accuracy, float(np.log(np.clip(scores[np.arange(len(truth)), truth], eps, 1.0)).mean()))
    auc, _, _ = auc_with_ci(targets, scores, n_bootstrap=0)
    p = np.clip(scores, eps, 1 - eps)
    bce = float(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean()) if len(targets) else 0.0
    return (auc if auc is not None else -math.inf, -bce)


def _optimizer(groups: list[dict], params) -> torch.optim.Optimizer:
    if params.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=params.lr, momentum=params.momentum)
    return torch.optim.AdamW(groups, lr=params.lr)


def run(ctx: RunContext) -> Predictions:
    """Fine-tune the backbone and a linear head on ``ctx.train``; select on ``ctx.val``; score ``ctx.test``."""
    params = ctx.params
    backbone = ctx.build_backbone()
    model = Classifier(backbone, len(ctx.task.labels), params.head_init_std, params.head_norm).to(ctx.device)
    groups = backbone_param_groups(backbone, model.head.parameters(), lr=params.lr, weight_decay=params.weight_decay,
                                   layer_decay=params.layer_decay)
    optim = _optimizer(groups, params)
    trained = wrap_ddp(model, ctx.device, ctx.dist)
    single = ctx.task.single_label
    loss_fn = classification_loss(single)
    y_train = torch.from_numpy(ctx.targets(ctx.train))  # [N, C]
    y_val = ctx.targets(ctx.val)
    augment = random_resized_crop(params.crop_scale_min, params.hflip)
    train_loader = image_loader(
        ctx.train, backbone, batch_size=rank_batch_size(int(params.batch_size), ctx.dist), num_workers=ctx.num_workers,
        shuffle=True, augment=augment, seed=ctx.seed, dist=ctx.dist, pin_memory=ctx.device.type == "cuda",
    )  # fmt: skip
    evaluate = dict(batch_size=params.eval_batch_size, device=ctx.device, num_workers=ctx.num_workers, dist=ctx.dist,
                    single_label=single)
    best, best_state, step, epoch = (-math.inf, -math.inf), copy.deepcopy(model.state_dict()), 0, 0
    torch.manual_seed(ctx.seed)
    with ctx.progress.bar("fine-tune (steps)", params.steps) as advance:
        while step < params.steps:
            if hasattr(train_loader.sampler, "set_epoch"):
                train_loader.sampler.set_epoch(epoch)
            epoch += 1
            for images, index in train_loader:
                if len(images) < 2 and model.norm is not None:
                    continue  # a one-image batch has no batch statistics for the feature BatchNorm
                trained.train()
                factor = warmup_cosine(step, params.warmup_steps, params.steps)
                for group in optim.param_groups:
                    group["lr"] = group["base_lr"] * factor
                optim.zero_grad(set_to_none=True)
                images = images.to(ctx.device, non_blocking=True)
                loss = loss_fn(trained(images), y_train[index].to(ctx.device, non_blocking=True))  # logits [B, C]
                loss.backward()
                optim.step()
                step += 1
                advance(1)
                if step % params.eval_every == 0 or step == params.steps:
                    objective = _val_objective(y_val, predict_table(model, ctx.val, **evaluate), single)
                    if objective > best:
                        best, best_state = objective, copy.deepcopy(model.state_dict())
                if step >= params.steps:
                    break
    model.load_state_dict(best_state)
    return Predictions(
        ids=tuple(ctx.test.ids),
        targets=None,  # the task attaches its ground truth
        scores=predict_table(model, ctx.test, **evaluate).astype(np.float32),
        label_names=ctx.labels,
    )
