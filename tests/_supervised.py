"""Shared pieces of the signal tests: a tiny ViT trained supervised on a train split (labels or masks), exported."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

KWARGS = {"depth": 3, "embed_dim": 64, "num_heads": 2, "patch_size": 8}
SIZE = 64  # input size of the classification backbone (the images are written at 64 px)
LR = 1e-3
# The classification backbone: the same tiny ViT behind timm's hybrid stem (7x7 stride-2 conv, GroupNorm, max-pool,
# then 2x2 patches: 8-px tokens). On generator version 3 the plain patch-8 ViT learned nothing in 1,000 steps.
CLS_ARCH = "vit_tiny_r_s16_p8_224"
CLS_KWARGS = {**KWARGS, "patch_size": 2}
ARCH = "vit_tiny_patch16_224"
# The signal tests write their trees with every finding's density change x8 (make_case's ``conspicuity``):
# they check the plumbing (train split -> exported file -> the runner's probe), and in the default world even a
# ResNet-18 needs ~1,500 images and minutes of CPU to learn consolidation (tests/data/test_synth_difficulty.py).
CONSPICUITY = 8.0


def train_supervised(
    train_table, targets: np.ndarray, steps: int = 300, *, single_label: bool = False, seed: int = 0,
    size: int = SIZE, lr: float = LR, batch_size: int = 32,
) -> nn.Module:
    """A tiny hybrid ViT (:data:`CLS_ARCH`) + linear head trained on ``train_table`` only (``targets`` ``[N, C]``);
    returns the ViT.

    BCE per label, or cross-entropy on the one-hot targets when ``single_label``. AdamW with a linear warm-up
    (the first 10 % of ``steps``) and a cosine decay; each batch is flipped (p = 0.5) and shifted by up to
    ``size // 16`` pixels.
    """
    from ecamp_bench.evaluation.features import ImageDataset
    from ecamp_bench.models.backbone import build_backbone
    from ecamp_bench.specs import BackboneSpec

    torch.manual_seed(seed)
    spec = BackboneSpec(name="signal", arch=CLS_ARCH, input_size=size, model_kwargs=CLS_KWARGS)
    backbone = build_backbone(spec, None)
    data = ImageDataset(train_table.samples, size, spec.mean, spec.std)
    images = torch.stack([data[i][0] for i in range(len(data))])  # [N, 3, S, S], decoded once
    y = torch.as_tensor(np.asarray(targets), dtype=torch.float32).reshape(len(images), -1)  # [N, C]
    head = nn.Linear(backbone.num_features, y.shape[1])
    optim = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=lr, weight_decay=0.05)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(step, steps) / steps)))
    generator = torch.Generator().manual_seed(seed)
    shift = size // 16
    backbone.train()
    for _ in range(steps):
        batch = torch.randint(0, len(images), (batch_size,), generator=generator)
        x = images[batch].flip(-1) if bool(torch.rand(1, generator=generator) < 0.5) else images[batch]
        dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=generator))
        x = torch.roll(x, (dy, dx), dims=(-2, -1))
        logits = head(backbone.forward_global(x))  # [B, C]
        if single_label:
            loss = nn.functional.cross_entropy(logits, y[batch].argmax(dim=1))
        else:
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y[batch])
        optim.zero_grad()
        loss.backward()
        optim.step()
        schedule.step()
    return backbone.encoder


def export_signal_backbone(vit: nn.Module, name: str, origin: str, *, size: int = SIZE, hybrid: bool = False):
    """Save ``vit`` (trained at ``size`` px; :data:`CLS_ARCH` when ``hybrid``, else :data:`ARCH`) as
    ``pretrained/<name>.safetensors``; returns the path."""
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.paths import pretrained_dir

    arch, kwargs = (CLS_ARCH, CLS_KWARGS) if hybrid else (ARCH, KWARGS)
    meta = BackboneMeta(arch=arch, model_kwargs={**kwargs, "img_size": size}, img_size=size, patch_size=8,
                        embed_dim=64, depth=3, origin=origin)
    path = pretrained_dir() / f"{name}.safetensors"
    save_backbone_file(path, vit.state_dict(), meta)
    return path


def train_pixel_supervised(
    task_name: str, train_table, steps: int = 300, *, size: int = 64, shuffle_masks: bool = False
) -> nn.Module:
    """A tiny ViT (patch 8) trained to predict ``task_name``'s masks of ``train_table`` pixel by pixel (BCE + Dice).

    A 1×1 linear map of the last block's tokens gives each patch's 8×8 pixels; returns the ViT.
    ``shuffle_masks`` pairs each image with another image's mask (the failing variant: no image-mask link).
    """
    from ecamp_bench.mm.seg_data import load_pair
    from ecamp_bench.models.backbone import build_backbone, import_ref
    from ecamp_bench.plugins import get_catalog
    from ecamp_bench.specs import BackboneSpec

    torch.manual_seed(0)
    backbone = build_backbone(BackboneSpec(name="sig", arch=ARCH, input_size=size, model_kwargs=KWARGS), None)
    task = get_catalog().task(task_name)
    impl = import_ref(task.implementation)
    pairs = [load_pair(s, size, lambda sample, shape: impl.mask(task, sample, shape)) for s in train_table]
    images = torch.stack([torch.as_tensor(i, dtype=torch.float32) / 255 for i, _ in pairs])[:, None].repeat(1, 3, 1, 1)
    masks = torch.stack([torch.as_tensor(m, dtype=torch.float32) for _, m in pairs])[:, None]  # [N, 1, S, S]
    if shuffle_masks:
        masks = masks[torch.randperm(len(masks), generator=torch.Generator().manual_seed(1))]
    head = nn.Sequential(nn.Conv2d(64, 64, 1), nn.PixelShuffle(8))  # tokens [B, 64, S/8, S/8] -> [B, 1, S, S]
    optim = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = torch.randint(0, len(images), (32,), generator=generator)
        tokens = backbone.encoder.forward_intermediates(
            backbone.normalize(images[batch]), indices=[2], intermediates_only=True, output_fmt="NCHW"
        )[0]
        prob, truth = head(tokens).sigmoid(), masks[batch]  # [B, 1, S, S] each
        dice = 1 - (2 * (prob * truth).sum() + 1) / (prob.sum() + truth.sum() + 1)
        loss = nn.functional.binary_cross_entropy(prob, truth) + dice
        optim.zero_grad()
        loss.backward()
        optim.step()
    return backbone.encoder
