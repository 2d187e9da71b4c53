"""Shared pieces of the signal tests: a tiny ViT trained supervised on a train split (labels or masks), exported."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

KWARGS = {"depth": 3, "embed_dim": 64, "num_heads": 2, "patch_size": 8}
SIZE = 32  # input size of the backbone; the images are written at 64 px and resized by the harness
ARCH = "vit_tiny_patch16_224"


def train_supervised(train_table, targets: np.ndarray, steps: int = 300, *, single_label: bool = False,
                     seed: int = 0) -> nn.Module:  # fmt: skip
    """A tiny ViT + linear head trained on ``train_table`` only (``targets`` ``[N, C]``); returns the ViT.

    BCE per label, or cross-entropy on the one-hot targets when ``single_label``.
    """
    from ecamp_bench.evaluation.features import ImageDataset
    from ecamp_bench.models.backbone import build_backbone
    from ecamp_bench.specs import BackboneSpec

    torch.manual_seed(seed)
    spec = BackboneSpec(name="signal", arch=ARCH, input_size=SIZE, model_kwargs=KWARGS)
    backbone = build_backbone(spec, None)
    data = ImageDataset(train_table.samples, SIZE, spec.mean, spec.std)
    images = torch.stack([data[i][0] for i in range(len(data))])  # [N, 3, S, S], decoded once
    y = torch.as_tensor(np.asarray(targets), dtype=torch.float32).reshape(len(images), -1)  # [N, C]
    head = nn.Linear(backbone.num_features, y.shape[1])
    optim = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    backbone.train()
    for _ in range(steps):
        batch = torch.randint(0, len(images), (32,), generator=generator)
        flip = images[batch].flip(-1) if bool(torch.rand(1, generator=generator) < 0.5) else images[batch]
        logits = head(backbone.forward_global(flip))  # [32, C]
        if single_label:
            loss = nn.functional.cross_entropy(logits, y[batch].argmax(dim=1))
        else:
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y[batch])
        optim.zero_grad()
        loss.backward()
        optim.step()
    return backbone.encoder


def export_signal_backbone(vit: nn.Module, name: str, origin: str, *, size: int = SIZE):
    """Save ``vit`` (trained at ``size`` px) as ``pretrained/<name>.safetensors``; returns the path."""
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.paths import pretrained_dir

    meta = BackboneMeta(arch=ARCH, model_kwargs={**KWARGS, "img_size": size}, img_size=size, patch_size=8, embed_dim=64,
                        depth=3, origin=origin)  # fmt: skip
    path = pretrained_dir() / f"{name}.safetensors"
    save_backbone_file(path, vit.state_dict(), meta)
    return path


def train_pixel_supervised(task_name: str, train_table, steps: int = 300, *, size: int = 64,
                           shuffle_masks: bool = False) -> nn.Module:  # fmt: skip
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
        tokens = backbone.encoder.forward_intermediates(backbone.normalize(images[batch]), indices=[2],
                                                    intermediates_only=True, output_fmt="NCHW")[0]  # fmt: skip
        prob, truth = head(tokens).sigmoid(), masks[batch]  # [B, 1, S, S] each
        dice = 1 - (2 * (prob * truth).sum() + 1) / (prob.sum() + truth.sum() + 1)
        loss = nn.functional.binary_cross_entropy(prob, truth) + dice
        optim.zero_grad()
        loss.backward()
        optim.step()
    return backbone.encoder
