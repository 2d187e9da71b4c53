"""AdamW parameter groups and the per-iteration warm-up + half-cosine learning-rate schedule (§6)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ecamp_bench.pretrain.config import OptimConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weight decay on ≥2-D weights, none on biases and 1-D parameters; frozen ones left out."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw_implementation(setting: str, model: nn.Module) -> dict[str, bool]:
    """``torch.optim.AdamW`` keyword arguments for ``optim.adamw``: ``fused`` (one kernel over all
    parameters, CPU and CUDA), ``foreach`` (multi-tensor ops), ``for-loop`` (one parameter at a time, what
    the reference gets on CPU); ``auto`` = fused where every parameter is a float tensor on CPU/CUDA, else
    foreach. The three compute the same update up to float rounding."""
    if setting == "auto":
        params = [p for p in model.parameters() if p.requires_grad]
        fusable = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
        setting = "fused" if fusable else "foreach"
    return {"fused": {"fused": True, "foreach": False}, "foreach": {"foreach": True, "fused": False},
            "for-loop": {"foreach": False, "fused": False}}[setting]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW with the config's absolute lr, betas, weight decay and implementation (``optim.adamw``)."""
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas),
                             **adamw_implementation(cfg.adamw, model))


def lr_at(epoch: float, cfg: OptimConfig) -> float:
    """Learning rate at a fractional epoch: linear warm-up, then half-cosine over ``cosine_epochs``."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * epoch / cfg.warmup_epochs
    span = max(cfg.cosine_epochs - cfg.warmup_epochs, 1e-12)
    progress = min((epoch - cfg.warmup_epochs) / span, 1.0)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int):
    """A ``LambdaLR`` stepped once per optimizer step: lr(step) = :func:`lr_at` (step / steps_per_epoch)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(step / steps_per_epoch, cfg) / cfg.lr)
