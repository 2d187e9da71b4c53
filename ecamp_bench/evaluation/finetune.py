"""Building blocks of full fine-tuning with a linear head (the ``finetune`` protocol's trainer pieces).

- :class:`Classifier`: backbone global feature (pooled as the backbone spec does, or CLS / patch mean + fresh
  ``fc_norm``) → optional feature BatchNorm → linear head;
- :func:`finetune_backbone`: the run's backbone with timm ``drop_path_rate``;
- :func:`random_resized_crop`: the seeded per-sample train augmentation; :func:`warmup_cosine`: the lr multiplier;
- :class:`Precision` and :func:`train_step`: one optimiser step under autocast (bf16/fp16, fp16 with a
  ``GradScaler``), gradients clipped to a global norm;
- :func:`predict` / :func:`predict_table`: scores of a table, sharded over the ranks under DDP and gathered.

The protocol (its published values, the step loop, model selection on val) is
``ecamp_bench_plugins.protocols.finetune``; the parity benchmark and the tests use these pieces directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ecamp_bench.data.samples import SampleTable
from ecamp_bench.distributed import DistInfo, gather_rows
from ecamp_bench.errors import ConfigError
from ecamp_bench.evaluation.context import RunContext
from ecamp_bench.evaluation.features import image_loader, shard_of
from ecamp_bench.evaluation.linear_probe import probabilities
from ecamp_bench.models.backbone import Backbone


class Classifier(nn.Module):
    """Backbone global feature → (optional feature BatchNorm) → linear head: ``[B, 3, H, W]`` → logits ``[B, C]``.

    ``pooling`` says how a ViT's tokens become the global feature ``[B, D]``: ``"backbone"`` as the backbone spec
    pools (:meth:`Backbone.forward_global`); ``"cls"`` the CLS token after the encoder's final norm; ``"mean"`` the
    patch tokens (prefix tokens excluded) averaged *before* the final norm, then a freshly initialised
    ``LayerNorm(D, eps=1e-6)`` (MAE's ``global_pool`` with ``fc_norm``, which MRM and ECAMP fine-tune with; the
    encoder's own final norm is dropped). A CNN already averages its last map: ``"mean"`` is ``"backbone"`` there
    and ``"cls"`` raises :class:`~ecamp_bench.errors.ConfigError`.

    ``head_norm="batchnorm"`` puts a ``BatchNorm1d`` without affine parameters before the head (MAE's linear
    probe, after MoCo v3, which "calibrates the feature magnitudes"): the head then sees every feature at unit
    variance over the images, so its learning speed does not depend on how far apart the images' pooled
    features lie (per-dimension spread 0.1 around a common mean for the demo's small ViTs).
    """

    def __init__(self, backbone: Backbone, n_classes: int, head_init_std: float, head_norm: str = "none",
                 pooling: str = "backbone"):
        super().__init__()
        self.backbone = backbone
        self.pooling = _check_pooling(backbone, pooling)
        self.fc_norm = None
        if self.pooling == "mean":
            backbone.encoder.norm = nn.Identity()  # MAE global_pool: the final norm is replaced by fc_norm
            self.fc_norm = nn.LayerNorm(backbone.num_features, eps=1e-6)
        self.norm = nn.BatchNorm1d(backbone.num_features, affine=False, eps=1e-6) if head_norm == "batchnorm" else None
        self.head = nn.Linear(backbone.num_features, n_classes)
        nn.init.trunc_normal_(self.head.weight, std=head_init_std)
        nn.init.zeros_(self.head.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled global feature ``[B, D]`` (see the class docstring)."""
        if self.pooling == "backbone":
            return self.backbone.forward_global(x)
        tokens = self.backbone.encoder.forward_features(x)  # [B, N, D]
        if self.pooling == "cls":
            return tokens[:, 0]
        return self.fc_norm(tokens[:, int(self.backbone.encoder.num_prefix_tokens):].mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]``."""
        features = self.features(x)  # [B, D]
        return self.head(features if self.norm is None else self.norm(features))


def _check_pooling(backbone: Backbone, pooling: str) -> str:
    """The pooling this backbone runs (``"mean"`` of a CNN is its own average); raise ConfigError where impossible."""
    if pooling not in ("backbone", "cls", "mean"):
        raise ConfigError(f"protocol.pooling {pooling!r} is not one of ['backbone', 'cls', 'mean']")
    if pooling == "backbone" or getattr(backbone, "family", "vit") == "vit" and not backbone.features_only:
        if pooling == "cls" and getattr(backbone.encoder, "cls_token", None) is None:
            raise ConfigError(f"protocol.pooling 'cls': backbone '{backbone.spec.name}' has no CLS token")
        return pooling
    if pooling == "cls":
        raise ConfigError(f"protocol.pooling 'cls' needs a token model; '{backbone.spec.arch}' is a CNN (use 'mean')")
    return "backbone"  # a CNN's global feature already is the mean of its last map


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
                  num_workers: int = 0, dist: DistInfo | None = None, single_label: bool = False,
                  resize: str = "resize") -> np.ndarray:
    """Scores ``[N, C]`` for every image of ``table`` in table order (sharded over the ranks under DDP;
    ``resize``: how each image becomes the input square, see :class:`~ecamp_bench.evaluation.features.ImageDataset`)."""
    dist = dist or DistInfo()
    mine, part = shard_of(table, dist)
    loader = image_loader(part, model.backbone, batch_size=batch_size, num_workers=num_workers, resize=resize)
    return gather_rows(len(table), mine, predict(model, loader, device, single_label), dist)


@dataclass(frozen=True)
class Precision:
    """Mixed precision of the training step: ``torch.autocast`` on ``device_type`` at ``dtype`` (``None``: off),
    with a ``torch.amp.GradScaler`` for fp16 (``scaler``; ``None`` otherwise)."""

    device_type: str
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None

    @classmethod
    def of(cls, amp: str, device: torch.device, loss_scale_init: float = 65536.0) -> Precision:
        """``amp`` ``"none"``, ``"bf16"`` or ``"fp16"`` (initial loss scale ``loss_scale_init``) on ``device``."""
        dtypes = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
        if amp not in dtypes:
            raise ConfigError(f"protocol.amp {amp!r} is not one of {list(dtypes)}")
        scaler = torch.amp.GradScaler(device.type, init_scale=float(loss_scale_init)) if amp == "fp16" else None
        return cls(device.type, dtypes[amp], scaler)

    def autocast(self):
        """The autocast context of a forward pass (a no-op when off)."""
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)


def train_step(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, loss_fn, optim: torch.optim.Optimizer,
               precision: Precision, grad_clip: float | None) -> float:
    """One optimiser step on a batch (``images [B, 3, H, W]``, ``targets [B, C]``): forward under ``precision``,
    backward (loss scaled for fp16), gradients unscaled and clipped to global norm ``grad_clip`` (``None``: not
    clipped), step (skipped by the scaler when an fp16 gradient overflowed). Returns the loss."""
    optim.zero_grad(set_to_none=True)
    with precision.autocast():
        logits = model(images)  # [B, C]
    loss = loss_fn(logits.float(), targets)
    scaler = precision.scaler
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.unscale_(optim)
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_([p for g in optim.param_groups for p in g["params"]], float(grad_clip))
    if scaler is not None:
        scaler.step(optim)
        scaler.update()
    else:
        optim.step()
    return float(loss.detach())


def finetune_backbone(ctx: RunContext) -> Backbone:
    """The run's backbone, built with the protocol's ``drop_path`` (timm ``drop_path_rate``) when it is set."""
    rate = float(ctx.params.drop_path)
    if rate > 0:
        spec = replace(ctx.backbone, model_kwargs={**ctx.backbone.model_kwargs, "drop_path_rate": rate})
        ctx = replace(ctx, backbone=spec)
    return ctx.build_backbone()
