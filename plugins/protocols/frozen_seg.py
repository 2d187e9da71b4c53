"""Protocol ``frozen-seg`` (MGCA/ECAMP lineage): frozen encoder (ViT or CNN), SETR-style progressive-upsampling decoder.

Published values (docs/protocols.md): 224 px, AdamW lr 5e-4, wd 0.05, batch 8, up to 50 epochs,
early stopping with patience 10, loss ``10·Focal(γ=2) + Dice``. Ours differ where the stack differs:
mmseg's sigmoid focal loss multiplies by ``alpha`` for both classes, so ``alpha=0.5, weight=20`` equals
MGCA's ``10·Focal``; the Dice term is ``1 − Dice`` (mmseg) rather than MGCA's ``−log Dice``; selection and
early stopping use val ``dice_dataset`` (MGCA uses val loss; val ``dice_per_image`` would favour
empty predictions on a mostly negative val set). The decoder is mmseg's ``SETRUPHead``
(4 × conv 3×3 + ×2 upsampling, one width ``decoder_channels``) on the last block's stride-16 map.
:func:`run` trains through ``ecamp_bench.mm.seg_train.run_segmentation`` (mmengine Runner + mmseg, shared with
``finetune-seg``). This module is the one source of these values (defaults = published, ``presets`` = named
overrides).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class FrozenSegParams:
    """Hyper-parameters of frozen-encoder segmentation (defaults = MGCA's SIIM recipe)."""

    image_size: int = 224
    batch_size: int = 8  # MGCA SIIM
    eval_batch_size: int = 16
    lr: float = 5e-4  # MGCA scripts (2e-4 is its CLI default)
    weight_decay: float = 0.05
    epochs: int = 50
    iters: int = 0  # epoch-based
    val_interval: int = 1  # validate every epoch
    patience: int = 10  # early stopping, in validations
    warmup_iters: int = 0
    poly_power: float = 0.0  # constant lr (MGCA uses no scheduler)
    decoder_channels: int = 256  # SETRUPHead width (MGCA: 512->256->128->64)
    decoder_convs: int = 4  # 4 x (conv, x2 upsample): stride 16 -> 1
    focal_weight: float = 20.0  # x alpha 0.5 = MGCA's 10 * Focal(gamma 2)
    focal_alpha: float = 0.5
    focal_gamma: float = 2.0
    dice_weight: float = 1.0  # mmseg 1 - Dice (MGCA: -log Dice)
    hflip: bool = False
    select_metric: str = "dice_dataset"  # ours (MGCA: val loss); dice_per_image favours empty predictions


# CPU smoke runs on the synthetic data. focal_weight 0: Dice only, because with a few dozen CPU-scale training
# images the focal term drives every pixel to background (measured: dice_dataset 0.0 at 10 %; see
# tests/mm/test_seg_signal.py). This was the value the deleted configs/protocols/frozen-seg.yaml applied.
TINY = {"image_size": 64, "batch_size": 4, "eval_batch_size": 8, "epochs": 3, "patience": 2, "decoder_channels": 32,
        "lr": 2e-3, "focal_weight": 0.0}


def run(ctx):
    """Train the SETR-PUP decoder on the frozen encoder, select on val and predict the test split."""
    from ecamp_bench.mm.seg_train import run_segmentation

    return run_segmentation(ctx, "frozen")


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The frozen-encoder segmentation protocol."""
    return [
        ProtocolSpec(
            name="frozen-seg",
            version=2,  # 2: random flips seeded per drawn sample (results no longer depend on --num-workers)
            kinds=("segmentation",),
            params=FrozenSegParams,
            run="ecamp_bench_plugins.protocols.frozen_seg:run",
            presets={"tiny": TINY},
            description="frozen encoder + SETR-PUP decoder (mmseg), Focal+Dice, AdamW, early stopping on val Dice",
            lineage="MGCA (NeurIPS 2022) / ECAMP segmentation",
        )
    ]
