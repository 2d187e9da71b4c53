"""Run a segmentation protocol through mmengine's Runner and mmseg: train on ``ctx.train``, select on
``ctx.val``, predict ``ctx.test``. Shared by ``frozen-seg`` (``mode="frozen"``) and ``finetune-seg``
(``mode="finetune"``), whose plugin modules (``ecamp_bench_plugins.protocols.frozen_seg`` / ``.finetune_seg``)
hold their values and call :func:`run_segmentation`; the model each mode builds is in
:mod:`ecamp_bench.mm.seg_config`.

- Validation: :class:`ValDiceMetric` (an mmengine ``BaseMetric``) reports ``dice_per_image`` (the
  selection metric of MGCA/MRM/ECAMP), ``dice_dataset`` and ``dice_positive`` on ``ctx.val``.
- Early stopping: mmengine's ``EarlyStoppingHook`` on ``params.select_metric`` (``patience`` validations).
  On a mostly negative val set ``dice_per_image`` rewards predicting nothing (an untrained head scores the
  negative fraction), so ``frozen-seg`` selects on ``dice_dataset`` by default.
- Selection: :class:`KeepBestStateHook` keeps the best validated weights **in memory** (no checkpoint files,
  so nothing goes through mmengine's ``torch.load``); they are restored before predicting the test split.
- Optimiser: AdamW built here (``OptimWrapper``); ``finetune`` uses layer-wise lr decay on the encoder blocks
  and the MAE/BEiT weight-decay exemptions (:func:`~ecamp_bench.evaluation.param_groups.backbone_param_groups`:
  no decay on 1-D tensors nor on the model's ``no_weight_decay()`` names such as ``pos_embed``/``cls_token``),
  ``frozen`` trains only what has ``requires_grad``.

Test predictions are per-image masks at the protocol resolution: ``scores`` are uint8 ``[N, S, S]`` (the
predicted mask, thresholded at 0.5); the task attaches its ground-truth masks at that resolution.

Under DDP the Runner runs with ``launcher="pytorch"`` in the process group the CLI opened (mmengine's
``MMDistributedDataParallel``; ``batch_size`` is the global batch, split over the ranks), validation
results are gathered by mmengine's evaluator, and the test split is predicted in shards and gathered.
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import EarlyStoppingHook, Hook
from mmengine.optim import OptimWrapper

from ecamp_bench.distributed import gather_rows, rank_batch_size, shard_indices
from ecamp_bench.evaluation.context import Predictions, RunContext
from ecamp_bench.evaluation.seg_metrics import DiceCounts, dice_values
from ecamp_bench.mm.runtime import (build_runner, known_openmmlab_warnings_ignored, progress_hook, reproducible_kernels,
                                   scoped, seed_everything)

MONITOR = "dice_per_image"


class ValDiceMetric(BaseMetric):
    """The three Dice figures of a validation pass (per-image counts gathered, then :func:`dice_values`)."""

    default_prefix = None

    def process(self, data_batch: Any, data_samples: list) -> None:
        """Collect ``(|P∩T|, |P|, |T|)`` of each predicted sample."""
        for sample in data_samples:
            pred = sample["pred_sem_seg"]["data"].squeeze(0) > 0  # [S, S]
            truth = sample["gt_sem_seg"]["data"].squeeze(0).to(pred.device) == 1  # [S, S]
            self.results.append((float((pred & truth).sum()), float(pred.sum()), float(truth.sum())))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """``{"dice_per_image", "dice_dataset", "dice_positive"}`` (NaN → -1 so that comparisons stay defined)."""
        counts = DiceCounts(*(np.array(col, dtype=np.float64) for col in zip(*results)))
        values = dice_values(counts, np.arange(len(results)))
        return {name: (float(v) if not np.isnan(v) else -1.0) for name, v in values.items()}


class KeepBestStateHook(Hook):
    """Keep a CPU copy of the model's state dict whenever the validation ``monitor`` improves (greater is better)."""

    priority = "LOW"

    def __init__(self, monitor: str = MONITOR):
        self.monitor = monitor
        self.best_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[float] = []

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        """Record the score; copy the weights when it is the best so far."""
        if not metrics or self.monitor not in metrics:
            return
        from mmengine.model import is_model_wrapper

        score = float(metrics[self.monitor])
        self.history.append(score)
        if self.best_score is None or score > self.best_score:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            self.best_score = score
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _optimizer(model: torch.nn.Module, params: Any, mode: str) -> OptimWrapper:
    """AdamW over the trainable parameters; layer-wise lr decay and the weight-decay exemptions over the encoder
    in ``finetune`` mode."""
    lr, wd = float(params.lr), float(params.weight_decay)
    if mode == "finetune":
        from ecamp_bench.evaluation.param_groups import backbone_param_groups

        backbone = model.backbone.backbone
        inside = {id(p) for p in backbone.parameters()}
        rest = [p for p in model.parameters() if id(p) not in inside]
        groups = backbone_param_groups(backbone, rest, lr=lr, weight_decay=wd, layer_decay=float(params.layer_decay))
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr, "weight_decay": wd}]
    return OptimWrapper(optimizer=torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), weight_decay=wd))


def build_segmentor(params: Any, ctx: RunContext, mode: str) -> torch.nn.Module:
    """The mmseg ``EncoderDecoder`` of the protocol (backbone weights loaded strictly), on ``ctx.device``."""
    import ecamp_bench.mm.backbone  # noqa: F401  (registers EcampBenchBackbone)
    import ecamp_bench.mm.seg_losses  # noqa: F401  (registers LabelMapFocalLoss, ForegroundDiceLoss)
    from ecamp_bench.mm.seg_config import segmentor_cfg

    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    cfg = segmentor_cfg(params, spec=ctx.backbone, weights=str(ctx.weights_path) if ctx.weights_path else None,
                        mode=mode)
    with scoped("mmseg"), known_openmmlab_warnings_ignored():
        model = MODELS.build(ConfigDict(cfg))  # attribute access (test_cfg.mode) as from a config file
    return model.to(ctx.device)


@torch.no_grad()
def predict_masks(model: torch.nn.Module, loader, size: int) -> np.ndarray:
    """Predicted masks ``[N, size, size]`` uint8 of every batch of ``loader`` (model in eval mode).

    Raises :class:`~ecamp_bench.errors.NonFiniteError` when the logits behind a mask hold NaN or ±inf.
    """
    from ecamp_bench.evaluation.finite import require_finite

    model.eval()
    masks = []
    for batch in loader:
        for sample in model.test_step(batch):
            if "seg_logits" in sample:  # NaN logits give an all-background mask: refuse them here
                require_finite(sample.seg_logits.data, "segmentation logits of the test set")
            masks.append(sample.pred_sem_seg.data.squeeze(0).to("cpu", torch.uint8).numpy())  # [S, S]
    return np.stack(masks) if masks else np.zeros((0, size, size), dtype=np.uint8)


def _distributed_runner_cfg(ctx: RunContext) -> dict[str, Any]:
    """Runner arguments for DDP: mmengine's wrapper in the process group that is already open (none for one process)."""
    if not ctx.dist.distributed:
        return {}
    device_ids = [ctx.device.index or 0] if ctx.device.type == "cuda" else None
    wrapper = {
        "type": "MMDistributedDataParallel", "device_ids": device_ids, "broadcast_buffers": False,
        "find_unused_parameters": True,  # the backbone's final norm is not used by the decode heads
    }
    return {"launcher": "pytorch", "cfg": {"model_wrapper_cfg": wrapper}}


@reproducible_kernels
def run_segmentation(ctx: RunContext, mode: str) -> Predictions:
    """Train, early-stop and select on val, and predict the test split (see the module docstring)."""
    from ecamp_bench.mm.seg_config import schedule_cfg
    from ecamp_bench.mm.seg_data import SegmentationDataset, make_loader

    from torch.utils.data import Subset

    params = ctx.params
    seed_everything(ctx.seed)
    size = int(params.image_size)
    train = SegmentationDataset(ctx.train, size, mask_of=ctx.mask, flip_prob=0.5 if params.hflip else 0.0)
    val = SegmentationDataset(ctx.val, size, mask_of=ctx.mask)
    test = SegmentationDataset(ctx.test, size, mask_of=ctx.mask)
    common = {"seed": ctx.seed, "num_workers": ctx.num_workers}
    loaders = {
        "train_dataloader": make_loader(train, rank_batch_size(int(params.batch_size), ctx.dist), shuffle=True,
                                        dist=ctx.dist, **common),
        "val_dataloader": make_loader(val, params.eval_batch_size, shuffle=False, dist=ctx.dist, **common),
    }
    model = build_segmentor(params, ctx, mode)
    monitor = str(params.select_metric)
    if monitor not in ("dice_per_image", "dice_dataset", "dice_positive"):
        from ecamp_bench.errors import ConfigError

        raise ConfigError(f"protocol.select_metric '{monitor}' is not one of dice_per_image, dice_dataset, "
                          "dice_positive")
    keep_best = KeepBestStateHook(monitor)
    stopper = EarlyStoppingHook(monitor=monitor, rule="greater", min_delta=0.0, patience=int(params.patience))
    work_dir = ctx.work_dir / f"mm-{mode}-seg"
    with scoped("mmseg"), ctx.progress.bar(f"{mode}-seg training (iterations)", None) as phase:
        runner = build_runner(
            {
                "model": model, **loaders, **schedule_cfg(params),
                "optim_wrapper": _optimizer(model, params, mode),
                "val_evaluator": Evaluator([ValDiceMetric()]),
                "custom_hooks": [keep_best, stopper, progress_hook(phase)],
                "randomness": dict(seed=int(ctx.seed)),
                **_distributed_runner_cfg(ctx),
            },
            work_dir, "mmseg", device=ctx.device,
        )
        runner.train()
    with scoped("mmseg"):
        if keep_best.best_state is not None:
            model.load_state_dict(keep_best.best_state)
        ctx.progress.log(f"{mode}-seg: best val {monitor} {keep_best.best_score} after {len(keep_best.history)} "
                         "validations")
        mine = shard_indices(len(test), ctx.dist)
        test_loader = make_loader(Subset(test, mine), params.eval_batch_size, shuffle=False, **common)
        scores = gather_rows(len(test), mine, predict_masks(model, test_loader, size), ctx.dist)
    shutil.rmtree(work_dir, ignore_errors=True)
    return Predictions(ids=tuple(ctx.test.ids), targets=None, scores=scores, label_names=ctx.labels)


__all__ = ["KeepBestStateHook", "ValDiceMetric", "build_segmentor", "predict_masks", "run_segmentation"]
