"""Protocol ``finetune-seg`` (MRM lineage): UperNet + auxiliary FCN head, encoder fine-tuned with layer-wise lr decay.

Published values (docs/protocols.md, MRM's mmseg config at 10%): 512 px, AdamW lr 2e-5 (MRM's base lr),
layer decay 0.65, wd 0.05, poly schedule (power 1) after a 100-iteration linear warm-up, 5,000 iterations,
batch 8 (2 × 4 GPUs), validation every 50 iterations with the best val ``medDice`` (= our
``dice_per_image``) tested, Focal (weight 2) + foreground Dice (weight 1), random flip. The auxiliary
FCN head (weight 0.4, mmseg's UperNet default) sees the stride-16 map. ``patience`` (early stopping in
validations) is ours; MRM trains the full schedule (set ``patience`` ≥ iters / val_interval for that).
This module is the one source of these values (defaults = published, ``presets`` = named overrides).
:func:`run` trains through ``ecamp_bench.mm.seg_train.run_segmentation`` (mmengine Runner + mmseg, shared with
``frozen-seg``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class FinetuneSegParams:
    """Hyper-parameters of UperNet fine-tuning (defaults = MRM's SIIM 10% recipe)."""

    image_size: int = 512
    batch_size: int = 8  # 2 images/GPU x 4 GPUs
    eval_batch_size: int = 8
    lr: float = 2e-5
    weight_decay: float = 0.05
    layer_decay: float = 0.65
    epochs: int = 0  # iteration-based
    iters: int = 5000  # MRM 10%; the 100% file is 160k
    val_interval: int = 50  # MRM 10% (500 at 100%)
    patience: int = 100  # ours; >= iters / val_interval = the full schedule, as MRM
    warmup_iters: int = 100  # MRM 10% (1,500 at 100%)
    poly_power: float = 1.0
    decoder_channels: int = 512
    aux_channels: int = 256
    aux_weight: float = 0.4
    focal_weight: float = 2.0  # x alpha 0.5 (mmseg sigmoid focal)
    focal_alpha: float = 0.5
    focal_gamma: float = 2.0
    dice_weight: float = 1.0  # foreground only
    hflip: bool = True
    select_metric: str = "dice_per_image"  # MRM: best val medDice


TINY = {"image_size": 64, "batch_size": 4, "eval_batch_size": 8, "iters": 24, "val_interval": 8, "patience": 3,
        "warmup_iters": 2, "decoder_channels": 32, "aux_channels": 16, "lr": 1e-3}


def run(ctx):
    """Fine-tune UperNet + auxiliary FCN with the encoder (layer-wise lr decay), select on val, predict test."""
    from ecamp_bench.mm.seg_train import run_segmentation

    return run_segmentation(ctx, "finetune")


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The UperNet fine-tuning segmentation protocol."""
    return [
        ProtocolSpec(
            name="finetune-seg",
            version=2,  # 2: random flips seeded per drawn sample (results no longer depend on --num-workers)
            kinds=("segmentation",),
            params=FinetuneSegParams,
            run="ecamp_bench_plugins.protocols.finetune_seg:run",
            presets={"tiny": TINY},
            description="UperNet + aux FCN (mmseg), encoder fine-tuned with layer-wise lr decay; best val Dice -> test",
            lineage="MRM (ICLR 2023) segmentation",
        )
    ]
