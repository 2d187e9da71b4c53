"""Train and evaluate an mmdet detector on our backbone: the shared body of protocols ``frozen-det`` and ``det``.

The model (head, losses, assigners, NMS) is MMDetection's; the loop is ours because it is short and keeps
the best weights in memory: epochs over the shuffled train images (AdamW), after each epoch the val
``map_40_75`` (all val images, :mod:`ecamp_bench.evaluation.det_metrics`), the best epoch's weights kept,
early stopping after ``patience`` epochs without improvement, and the test set predicted with the best
weights. A val split without any true box has no mAP; the last epoch's weights are then used.

Batch size and lr are the protocol's (a recipe sets MGCA's per-fraction values, e.g. 1 %: bs 8, lr 2e-4;
``ecamp-bench list recipes mgca``). Ground-truth boxes come from the task (``ctx.boxes``); the test
predictions carry no truth (the task attaches it).

Under DDP the detector is wrapped in ``DistributedDataParallel``; every global batch of the shared
shuffled order is split over the ranks (:func:`~ecamp_bench.distributed.rank_slice`), and val/test
predictions are sharded and gathered, so every rank takes the same early-stopping decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ecamp_bench.distributed import DistInfo, gather_items, rank_slice, shard_indices, wrap_ddp
from ecamp_bench.errors import ConfigError
from ecamp_bench.evaluation.context import Predictions, RunContext
from ecamp_bench.evaluation.det_metrics import IOU_40_75, ImageDetections, mean_ap
from ecamp_bench.mm.det_data import DetectionSet, boxes_to_original
from ecamp_bench.mm.runtime import reproducible_kernels

FROZEN_PREFIX = "backbone.backbone.encoder."


def schedule(params: Any, ctx: RunContext) -> tuple[float, int]:
    """``(lr, batch_size)`` for this run (per-fraction values come from a recipe, resolved before the run)."""
    return float(params.lr), int(params.batch_size)


def evaluation_size(params: Any, ctx: RunContext) -> int:
    """The input size (``params.image_size``, 0 = the backbone's), which must be a multiple of 32."""
    size = int(params.image_size or ctx.backbone.input_size)
    if size % 32:
        raise ConfigError(f"protocol.image_size must be a multiple of 32 (detector strides up to 32), got {size}")
    return size


@torch.no_grad()
def predict(model, data: DetectionSet, batch_size: int, dist: DistInfo | None = None, *,
            check_finite: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image ``(boxes [P, 4] at the evaluated size, scores [P])`` after the head's thresholds and NMS.

    Under DDP each rank predicts its shard and every rank receives the whole list. With ``check_finite``,
    non-finite outputs of the backbone, neck or heads raise :class:`~ecamp_bench.errors.NonFiniteError`
    (validation passes ``False``: a diverged state just scores nothing and is not selected).
    """
    from ecamp_bench.evaluation.finite import OutputWatch

    dist = dist or DistInfo()
    model.eval()
    mine = shard_indices(len(data), dist)
    out = []
    # NaN head outputs fall below every score threshold and leave no box at all: watch them on the way
    watch = OutputWatch({name: getattr(model, name) for name in _WATCHED if getattr(model, name, None) is not None})
    try:
        for start in range(0, len(mine), batch_size):
            batch = model.data_preprocessor(data.batch(mine[start : start + batch_size]), False)
            for result in model.predict(batch["inputs"], batch["data_samples"], rescale=False):
                inst = result.pred_instances
                out.append((inst.bboxes.detach().cpu().numpy().astype(np.float64).reshape(-1, 4),
                            inst.scores.detach().cpu().numpy().astype(np.float64).reshape(-1)))
    finally:
        watch.close()
    if check_finite:
        watch.check("detector")
    return gather_items(len(data), mine, out, dist)


_WATCHED = ("backbone", "neck", "rpn_head", "bbox_head")  # the detector parts whose outputs must stay finite


def val_map(model, data: DetectionSet, batch_size: int, dist: DistInfo | None = None) -> float | None:
    """``map_40_75`` of ``model`` on ``data`` (all images)."""
    from ecamp_bench.errors import NonFiniteError

    preds = predict(model, data, batch_size, dist, check_finite=False)
    try:
        images = [ImageDetections.of(gt, b, s) for gt, (b, s) in zip(data.gt_boxes, preds)]
    except NonFiniteError:
        return None  # a diverged state scores nothing on val and is not selected; the test prediction checks
    return mean_ap(images, IOU_40_75)


def trainable_state(model, frozen: bool) -> dict[str, torch.Tensor]:
    """A CPU copy of the state that training can change (the frozen encoder is left out)."""
    state = model.state_dict()
    keep = [k for k in state if not (frozen and k.startswith(FROZEN_PREFIX))]
    return {k: state[k].detach().to("cpu", copy=True) for k in keep}


def optimizer(model, params: Any, lr: float, frozen: bool) -> torch.optim.Optimizer:
    """AdamW; a fine-tuned encoder gets ``lr * backbone_lr_scale`` (when the params define it)."""
    scale = float(getattr(params, "backbone_lr_scale", 1.0))
    encoder = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith(FROZEN_PREFIX)]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(FROZEN_PREFIX)]
    groups = [{"params": rest, "lr": lr}] + ([{"params": encoder, "lr": lr * scale}] if encoder and not frozen else [])
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(params.betas), weight_decay=float(params.weight_decay))


@reproducible_kernels
def train_and_predict(ctx: RunContext, make_config: Callable[[int], dict], *, frozen: bool) -> Predictions:
    """Build the detector of ``make_config(size)``; train on train, select on val, predict test."""
    from ecamp_bench.mm.det_config import build_detector
    from ecamp_bench.mm.runtime import seed_everything

    params = ctx.params
    if int(params.max_epochs) < 1 or int(params.patience) < 1:
        raise ConfigError(
            f"protocol.max_epochs and protocol.patience must be >= 1, got {params.max_epochs}, {params.patience}"
        )
    size = evaluation_size(params, ctx)
    lr, batch_size = schedule(params, ctx)
    splits = {"train": ctx.train, "val": ctx.val, "test": ctx.test}
    sets = {name: DetectionSet(table, size, ctx.progress, ctx.cache_dir, boxes_of=ctx.boxes)
            for name, table in splits.items()}
    seed_everything(ctx.seed)
    model = build_detector(make_config(size)).to(ctx.device)
    optim = optimizer(model, params, lr, frozen)
    trained = wrap_ddp(model, ctx.device, ctx.dist)
    generator = torch.Generator().manual_seed(ctx.seed)
    best, best_state, since_best = None, trainable_state(model, frozen), 0
    ctx.progress.log(f"detector: {size} px, lr {lr:g}, batch {batch_size}, {len(sets['train'])} train images")
    steps_per_epoch = -(-len(sets["train"]) // batch_size)
    with ctx.progress.bar("training detector (steps)", int(params.max_epochs) * steps_per_epoch) as advance:
        for epoch in range(int(params.max_epochs)):
            model.train()
            order = torch.randperm(len(sets["train"]), generator=generator).tolist()
            flips = (torch.rand(len(order), generator=generator) < 0.5).tolist() if params.hflip else None
            for start in range(0, len(order), batch_size):
                positions = rank_slice(range(start, min(start + batch_size, len(order))), ctx.dist)
                flip = [flips[p] for p in positions] if flips else None
                batch = model.data_preprocessor(sets["train"].batch([order[p] for p in positions], hflip=flip), True)
                loss, _ = model.parse_losses(trained(batch["inputs"], batch["data_samples"], mode="loss"))
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                advance(1)
            score = val_map(model, sets["val"], int(params.eval_batch_size), ctx.dist)
            if score is not None and (best is None or score > best):
                best, best_state, since_best = score, trainable_state(model, frozen), 0
            elif best is None:  # no val mAP (no true box in val): nothing to select on, keep the latest
                best_state = trainable_state(model, frozen)
            else:
                since_best += 1
                if since_best >= int(params.patience):
                    break
    model.load_state_dict(best_state, strict=not frozen)
    shown = "undefined" if best is None else f"{best:.4f}"
    ctx.progress.log(f"detector: best val map_40_75 {shown} after {epoch + 1} epochs")
    preds = predict(model, sets["test"], int(params.eval_batch_size), ctx.dist)
    return detection_predictions(sets["test"], preds, ctx.labels)


def detection_predictions(
    data: DetectionSet, preds: list[tuple[np.ndarray, np.ndarray]], label_names: tuple[str, ...] = ()
) -> Predictions:
    """Pack per-image boxes (converted to stored-image pixels) into :class:`Predictions` (flat arrays + offsets).

    ``targets`` is ``None`` (the task attaches its truth), ``scores [N, 1]`` = each image's highest box score
    (0 without any); ``extras``: ``pred_boxes [P, 4]``, ``pred_scores [P]``, ``pred_offsets [N + 1]``
    (x1, y1, x2, y2 in pixels of the stored images).
    """
    from ecamp_bench.evaluation.det_metrics import pack_boxes

    table = data.table
    pred_boxes, pred_offsets = pack_boxes([boxes_to_original(b, s, data.size) for (b, _), s in zip(preds, table)])
    scores = [sc for _, sc in preds]
    extras = {
        "pred_boxes": pred_boxes,
        "pred_scores": np.concatenate(scores or [np.zeros(0)]).astype(np.float32),
        "pred_offsets": pred_offsets,
    }
    return Predictions(
        ids=tuple(table.ids),
        targets=None,
        scores=np.array([[float(sc.max()) if len(sc) else 0.0] for sc in scores], dtype=np.float32).reshape(-1, 1),
        label_names=tuple(label_names),
        extras=extras,
    )


__all__ = ["detection_predictions", "train_and_predict"]
