"""The typed configuration of a pre-training run (``configs/pretrain/*.yaml`` → :class:`PretrainConfig`).

The dataclass defaults are the *paper* values (docs/method.md); ``cpu-small`` overrides
sizes and lengths. Load with :func:`load_pretrain_config` (config name or YAML path, then ``--set`` overrides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ecamp_bench.config import load_config, resolve_config
from ecamp_bench.errors import ConfigError
from ecamp_bench.models.ecamp import ECAMPModelConfig
from ecamp_bench.pretrain.probe import ProbeConfig
from ecamp_bench.text.masking import MaskingConfig


@dataclass
class DataConfig:
    """Which pairs to read and how images are augmented."""

    root: Path | None = None  # data root; None = the synthetic default (generated on first use)
    layout: str = "mimic-cxr"
    split: str = "train"
    views: tuple[str, ...] = ("PA", "AP")  # frontal views only
    hr_size: int = 448  # RandomResizedCrop output = SR target size (= sr_scale × model.img_size)
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip_prob: float = 0.5
    mean: float = 0.4721
    std: float = 0.3037
    num_workers: int = 8  # DataLoader workers: image decoding + augmentation + text masking
    # Decode only the resolution the crops need (JPEG draft scaling, prepared copies of `ecamp-bench data
    # prepare`): shorter side >= hr_size / sqrt(crop_scale[0]). False: always the full stored image.
    reduced_decode: bool = True
    # Entity-centred contexts (``ecamp-bench distill`` output). None = ``<root>/contexts.jsonl``; when that
    # file is missing, contexts are distilled with the offline ``rules`` backend first (fast).
    contexts: Path | None = None
    missing_contexts: Literal["distill", "none"] = "distill"


@dataclass
class TextConfig:
    """Tokenizer and MLM masking."""

    tokenizer: Path | None = None  # a tokenizer.json; None = train WordPiece on the training reports
    vocab_size: int = 30000
    min_frequency: int = 2
    masking: MaskingConfig = field(default_factory=MaskingConfig)


@dataclass
class SRConfig:
    """The SR-region rule (docs/method.md, "SR region")."""

    rule: str = "attention"  # attention | random | full (or a rule registered with register_sr_rule)
    window: int = 12  # side of the window in patches (12 of 14 for the paper)
    # `attention`: epochs trained without the SR loss before the windows are computed by this model
    # (the paper does not state how long its SR-free model trained; 40 = the warm-up is our choice).
    attention_stage_epochs: int = 40
    windows_file: Path | None = None  # precomputed windows (JSON {pair key: [i, j]}); skips the first stage


@dataclass
class OptimConfig:
    """AdamW with per-iteration linear warm-up then half-cosine (docs/method.md, "Optimisation")."""

    lr: float = 1.5e-4  # absolute learning rate (not scaled by batch size)
    min_lr: float = 0.0
    weight_decay: float = 0.05  # none on biases and 1-D parameters
    betas: tuple[float, float] = (0.9, 0.95)
    epochs: int = 120
    warmup_epochs: float = 40
    cosine_epochs: float = 200  # horizon of the half-cosine; training stops at `epochs` (→ 0.5 × lr at 120)
    batch_size: int = 256  # per process
    accum_steps: int = 8
    clip_grad: float | None = None
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 on CUDA, off on CPU
    adamw: Literal["auto", "fused", "foreach", "for-loop"] = "auto"  # auto: fused (see pretrain/optim.py)


@dataclass
class RunConfig:
    """Seeds, device, checkpoints, logging, initialisation, export."""

    seed: int = 42  # each process uses seed + rank
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = 500  # optimizer steps
    keep_checkpoints: int = 2
    log_every: int = 10
    max_steps: int | None = None  # stop early after this many optimizer steps (smoke tests, benchmarks)
    # torch.compile every transformer block and the SR branch (ECAMP.compile_regions; the whole model graph
    # breaks at the data-dependent MLM positions). Opt-in: minutes of compilation first.
    compile: bool = False
    init_checkpoint: Path | None = None  # local MAE/timm ViT weights (.pth/.safetensors) for the encoder/decoder
    export: bool = True


@dataclass
class PretrainConfig:
    """Everything a pre-training run depends on."""

    name: str = "paper"
    model: ECAMPModelConfig = field(default_factory=ECAMPModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    sr: SRConfig = field(default_factory=SRConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)  # the linear probe during training (probe.py)

    def validate(self) -> None:
        """Cross-field checks; raises :class:`ConfigError` naming the keys."""
        m = self.model
        if m.img_size % m.patch_size:
            raise ConfigError(f"model.img_size {m.img_size} is not a multiple of model.patch_size {m.patch_size}")
        if self.data.hr_size != m.sr_scale * m.img_size:
            raise ConfigError(f"data.hr_size must be model.sr_scale × model.img_size = {m.sr_scale * m.img_size}")
        if not 0 < self.sr.window <= m.img_size // m.patch_size:
            raise ConfigError(f"sr.window must be in 1..{m.img_size // m.patch_size} (the patch grid)")
        if self.text.masking.max_length > m.text_max_len:
            raise ConfigError("text.masking.max_length must not exceed model.text_max_len")
        if not 0.0 <= m.mask_ratio < 1.0:
            raise ConfigError("model.mask_ratio must be in [0, 1)")
        if self.optim.batch_size < 1 or self.optim.accum_steps < 1:
            raise ConfigError("optim.batch_size and optim.accum_steps must be >= 1")


def load_pretrain_config(config: str = "cpu-small", overrides: tuple[str, ...] | list[str] = ()) -> PretrainConfig:
    """The pre-training config ``configs/pretrain/<config>.yaml`` (or a YAML path) with ``--set`` overrides,
    validated. An unknown name raises :class:`~ecamp_bench.errors.UnknownNameError` listing the known ones."""
    cfg = load_config(PretrainConfig, resolve_config("pretrain", config), list(overrides))
    cfg.validate()
    return cfg
