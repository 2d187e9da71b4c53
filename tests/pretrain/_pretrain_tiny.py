"""A tiny pre-training setup shared by the in-process tests and the subprocess workers (DDP, SIGKILL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ecamp_bench.config import from_dict
from ecamp_bench.pretrain.config import PretrainConfig
from ecamp_bench.pretrain.data import PretrainPair

REPORTS = (
    "Small left pleural effusion. There is no pneumothorax.",
    "Mild cardiomegaly with pulmonary edema. There is no evidence of consolidation.",
    "Right upper lobe nodule is seen. Lungs are otherwise clear.",
    "There is no focal consolidation, effusion or pneumothorax. Heart size is normal.",
)


def tiny_config(**run) -> PretrainConfig:
    """A model of a few ten thousand parameters: 32 px encoder, 4×4 grid, 64 px SR target."""
    return from_dict(PretrainConfig, {
        "name": "tiny",
        "model": {"arch": "vit_tiny_patch16_224", "img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2,
                  "num_heads": 2, "decoder_embed_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2,
                  "sr_channels": 8, "text_hidden": 32, "text_layers": 1, "text_heads": 2, "text_ffn": 64,
                  "text_max_len": 48},
        "data": {"hr_size": 64, "num_workers": 0},
        "text": {"vocab_size": 300, "min_frequency": 1, "masking": {"max_length": 48}},
        "sr": {"rule": "attention", "window": 3, "attention_stage_epochs": 1},
        "optim": {"lr": 1e-3, "epochs": 3, "warmup_epochs": 1, "cosine_epochs": 5, "batch_size": 4, "accum_steps": 2},
        "run": {"seed": 7, "device": "cpu", "checkpoint_every": 2, "log_every": 1, **run},
    })


def tiny_pairs(folder: Path, n: int = 16) -> list[PretrainPair]:
    """``n`` 48×40 PNG "radiographs" (a bright blob on noise) with short reports and contexts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        img = rng.uniform(0.1, 0.3, size=(48, 40))
        y, x = rng.integers(4, 36), rng.integers(4, 28)
        img[y : y + 8, x : x + 8] = 0.9
        path = folder / f"img{i:03d}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(path)
        report = REPORTS[i % len(REPORTS)]
        pairs.append(PretrainPair(f"img{i:03d}", str(path), report,
                                  "Entity context: effusion present." if i % 2 else None, f"s{i // 2}"))
    return pairs
