"""Shared pieces of the classification signal tests: a tiny ViT trained supervised on a train split, exported."""

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


def export_signal_backbone(vit: nn.Module, name: str, origin: str):
    """Save ``vit`` as ``pretrained/<name>.safetensors``; returns the path."""
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.paths import pretrained_dir

    meta = BackboneMeta(arch=ARCH, model_kwargs={**KWARGS, "img_size": SIZE}, img_size=SIZE, patch_size=8, embed_dim=64,
                        depth=3, origin=origin)  # fmt: skip
    path = pretrained_dir() / f"{name}.safetensors"
    save_backbone_file(path, vit.state_dict(), meta)
    return path
