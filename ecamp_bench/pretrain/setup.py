"""Preparing a run folder: config snapshot, pairs and contexts, tokenizer (rank 0 first, then the others)."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import yaml
from tokenizers import Tokenizer

from ecamp_bench.config import to_dict
from ecamp_bench.errors import ConfigError
from ecamp_bench.pretrain import checkpointing as ckpt
from ecamp_bench.pretrain.config import DataConfig, PretrainConfig
from ecamp_bench.pretrain.data import PretrainPair
from ecamp_bench.distributed import DistInfo, barrier
from ecamp_bench.pretrain.sources import prepare_tokenizer, read_pairs, resolve_data_root


def default_image_loader(path: str, min_side: int | None = None) -> np.ndarray:
    """Any supported image file (PNG/JPEG/DICOM) as [H, W]: uint8 for 8-bit images, else float32 in [0, 1]
    (:func:`~ecamp_bench.data.images.load_image_array`); with ``min_side`` possibly smaller (a prepared copy,
    or JPEG draft decoding) but with the shorter side >= ``min_side``."""
    from ecamp_bench.data.images import load_image_array

    return load_image_array(Path(path), min_side=min_side)


def decode_min_side(cfg: DataConfig) -> int | None:
    """The shorter side a source image needs so that the smallest random crop (``crop_scale[0]`` of the area)
    still has about ``hr_size`` pixels across: ``ceil(hr_size / sqrt(crop_scale[0]))`` (1002 for the paper's
    448 and 0.2); None when ``data.reduced_decode`` is off."""
    if not cfg.reduced_decode:
        return None
    return math.ceil(cfg.hr_size / math.sqrt(max(cfg.crop_scale[0], 1e-6)))


def prepare_run(
    cfg: PretrainConfig, run_dir: Path, info: DistInfo, *, resume: bool, pairs: list[PretrainPair] | None,
    image_loader: Callable[[str], np.ndarray] | None, on_event: Callable[[str], None] | None = None,
) -> tuple[list[PretrainPair], Tokenizer, Callable[[str], np.ndarray]]:
    """Create ``run_dir`` (refusing to overwrite checkpoints unless resuming), read pairs, get the tokenizer.

    Steps that write (context distillation, tokenizer training) run on rank 0 first; the others wait at a
    barrier and then read what rank 0 wrote.
    """
    run_dir = Path(run_dir)
    if not resume and ckpt.latest_checkpoint(run_dir) is not None:
        raise ConfigError(f"{run_dir} already holds checkpoints of a run: pass --resume to continue it, "
                          "or choose another --out folder")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    result = None
    for turn in ("main", "others"):
        if (turn == "main") == info.is_main:
            if pairs is None:
                root = resolve_data_root(cfg.data)
                if on_event and info.is_main:
                    on_event(f"reading pairs from {root}")
                pairs = read_pairs(cfg.data, root)
            texts = [p.report for p in pairs] + [p.context for p in pairs if p.context]
            result = (pairs, prepare_tokenizer(cfg.text, texts, run_dir, write=info.is_main))
        barrier(info)
    pairs, tokenizer = result
    if on_event and info.is_main:
        on_event(f"{len(pairs)} pairs, vocabulary {tokenizer.get_vocab_size()}, run folder {run_dir}")
    return pairs, tokenizer, image_loader or partial(default_image_loader, min_side=decode_min_side(cfg.data))
