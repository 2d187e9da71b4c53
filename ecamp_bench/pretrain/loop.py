"""The pre-training engine: one optimizer step at a time, resumable and device-agnostic.

Everything random in a step is fixed by ``(seed, rank, step)``: the data order and augmentations by the
sampler and dataset (``data.py``), the text masking by a generator seeded per micro-step, and MAE masking and
dropout by re-seeding torch's global generator per micro-step. A resumed run therefore repeats an
uninterrupted one exactly. Mixed precision uses ``torch.autocast(device_type=...)``; DDP under ``torchrun``.
The loop knows nothing of printing: progress goes to the ``on_step`` callback, TensorBoard and metrics.jsonl.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ecamp_bench.config import config_sha256, to_dict
from ecamp_bench.errors import ConfigError, DataError
from ecamp_bench.models.ecamp import ECAMP, parameter_counts
from ecamp_bench.models.sr_region import build_sr_rule, region_mask
from ecamp_bench.pretrain import checkpointing as ckpt
from ecamp_bench.pretrain.config import PretrainConfig
from ecamp_bench.pretrain.data import (PretrainDataset, PretrainPair, ResumableDistributedSampler, StepSeeds,
                                       TextCollate, augment_on_device)
from ecamp_bench.distributed import DistInfo, barrier, derive_seed, init_distributed, seed_everything
from ecamp_bench.pretrain.export import export_backbone, init_from_checkpoint, write_export_provenance
from ecamp_bench.pretrain.optim import build_optimizer, build_scheduler
from ecamp_bench.pretrain.probe import attach_probe, probe_metadata
from ecamp_bench.models.backbone_refs import kebab
from ecamp_bench.pretrain.sr_windows import compute_windows, load_windows, save_windows
from ecamp_bench.text.loss import mlm_loss
from ecamp_bench.text.masking import TextBatch, TextBatcher

log = logging.getLogger(__name__)
LOSS_NAMES = ("loss", "mim", "sr", "mlm")


def format_losses(losses: dict[str, float], weights: dict[str, float]) -> str:
    """``loss 0.481 mim 0.481 sr 0.632 (off) mlm 6.354 (off)``: a term whose weight in ``weights``
    (``model.loss_weights``) is 0 is computed and shown, but not trained (an ablation such as ``mae-only``)."""
    return " ".join(f"{k} {v:.3f}" + (" (off)" if weights.get(k, 1.0) == 0 else "") for k, v in losses.items())
PREFETCH_BATCHES = 2  # per DataLoader worker (16 workers: 32 batches ready ahead)


@dataclass
class StepInfo:
    """Progress after one optimizer step (given to ``on_step`` on rank 0)."""

    step: int
    total_steps: int
    epoch: float
    losses: dict[str, float]
    lr: float
    samples_per_s: float
    eta_s: float


@dataclass
class PretrainResult:
    """What a finished run produced."""

    run_dir: Path
    steps: int
    wall_s: float
    backbone: Path | None
    parameters: dict[str, int]
    loss_start: dict[str, float] = field(default_factory=dict)  # mean over the first 10% of this run's steps
    loss_end: dict[str, float] = field(default_factory=dict)  # mean over the last 10%


class TrainingStopped(Exception):
    """Training stopped early at a checkpointed step because ``stop`` asked (e.g. the job is being preempted)."""

    def __init__(self, step: int):
        super().__init__(f"stopped after step {step} (checkpointed)")
        self.step = step


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``auto`` = bf16 on CUDA and off (None) on CPU."""
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[setting]


def build_model(cfg: PretrainConfig, vocab_size: int) -> ECAMP:
    """The ECAMP model of ``cfg`` with the tokenizer's vocabulary size."""
    model_cfg = cfg.model.__class__(**{**to_dict(cfg.model), "vocab_size": vocab_size})
    return ECAMP(model_cfg)


def forward_step(model, imgs_hr: torch.Tensor, boxes: torch.Tensor, text: TextBatch, img_size: int,
                 loss_weights: dict[str, float] | None, dtype: torch.dtype | None, *, sparse_logits: bool = True,
                 loss_layout: str = "flat"):
    """One forward pass on a batch already on the device: encoder input = hi-res image resized down.

    With ``sparse_logits`` and a loss on the masked positions only, the vocabulary logits are computed only
    there (same loss). ``loss_layout``: see :func:`~ecamp_bench.text.loss.mlm_loss` (benchmarks only).
    """
    device = imgs_hr.device
    imgs = F.interpolate(imgs_hr, size=(img_size, img_size), mode="bicubic", align_corners=False, antialias=True)
    region = region_mask(boxes, imgs_hr.shape[-1])  # [B, 1, S, S]
    positions = None
    if sparse_logits and not bool(text.loss_mask.all()):
        positions = text.loss_mask.bool()
    with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        return model(imgs, imgs_hr, region, text.input_ids, text.attention_mask,
                     lambda lg: mlm_loss(lg, text, layout=loss_layout), loss_weights, mlm_positions=positions)


class Trainer:
    """Holds the state of one run; :meth:`fit` trains to the end (or ``run.max_steps``)."""

    def __init__(self, cfg: PretrainConfig, run_dir: Path, pairs: list[PretrainPair], tokenizer,
                 image_loader: Callable[[str], np.ndarray], info: DistInfo, device: torch.device,
                 augment_on: str | None = None):
        """``augment_on``: where resize/flip/normalise run (:mod:`~ecamp_bench.pretrain.data`); None = on the
        device when it is a GPU (the workers then only decode and crop), else in the DataLoader workers."""
        self.cfg, self.run_dir, self.info, self.device = cfg, Path(run_dir), info, device
        self.dtype = amp_dtype(cfg.optim.amp, device)
        self.batcher = TextBatcher(tokenizer, cfg.text.masking)
        seed_everything(cfg.run.seed + info.rank)
        self.model = build_model(cfg, tokenizer.get_vocab_size()).to(device)
        self.grid = cfg.model.img_size // cfg.model.patch_size
        self.windows_path = self.run_dir / "sr_windows.json"
        self.dataset = PretrainDataset(
            pairs, hr_size=cfg.data.hr_size, crop_scale=tuple(cfg.data.crop_scale),
            crop_ratio=tuple(cfg.data.crop_ratio), hflip_prob=cfg.data.hflip_prob, mean=cfg.data.mean, std=cfg.data.std,
            sr_rule=build_sr_rule("full", cfg.sr.window, self.grid), seed=cfg.run.seed, image_loader=image_loader,
            augment_on=augment_on or ("device" if device.type == "cuda" else "worker"))
        self._data_loader: DataLoader | None = None  # built once, rebuilt only when the SR rule changes
        self._loader_rule = None
        self.sampler = ResumableDistributedSampler(self.dataset, info.world_size, info.rank, cfg.run.seed)
        per_rank_batches = self.sampler.num_samples // cfg.optim.batch_size
        self.steps_per_epoch = per_rank_batches // cfg.optim.accum_steps
        if self.steps_per_epoch == 0:
            raise DataError(f"{len(pairs)} pairs are too few for batch_size {cfg.optim.batch_size} × accum_steps "
                            f"{cfg.optim.accum_steps} × {info.world_size} processes "
                            "(one step per epoch needs that many); "
                            "use more data (e.g. `ecamp-bench data synth --size small`) or a smaller batch "
                            "(`--set optim.batch_size=N`)")
        self.total_steps = cfg.optim.epochs * self.steps_per_epoch
        if cfg.run.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.run.max_steps)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.step = 0
        self.ddp = (DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
                    if info.distributed else self.model)
        if cfg.run.compile:  # opt-in: compiles the blocks and the SR branch on the first steps
            self.model.compile_regions()

    # ------------------------------------------------------------------------------
    # state
    def state(self) -> dict:
        """Everything a checkpoint needs besides step and RNG states."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "config": to_dict(self.cfg), "sampler": {"epoch": self.step // self.steps_per_epoch,
                                                         "step_in_epoch": self.step % self.steps_per_epoch}}

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint of this run (the training-relevant config must be unchanged)."""
        state = ckpt.load_checkpoint(path)
        saved = state["config"]
        for section in ("model", "data", "text", "sr", "optim"):
            if config_sha256(saved.get(section)) != config_sha256(to_dict(self.cfg)[section]):
                raise ConfigError(f"{path}: cannot resume, the '{section}' config differs from the checkpoint's")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        ckpt.restore_rng_states(state["rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------------------------
    # SR stages
    def _uses_attention_stage(self) -> bool:
        return self.cfg.sr.rule == "attention" and self.cfg.sr.windows_file is None

    def _sr_weights(self, epoch: int) -> dict[str, float] | None:
        """``{"sr": 0}`` during the first stage of the ``attention`` rule, else the configured weights."""
        if self._uses_attention_stage() and epoch < self.cfg.sr.attention_stage_epochs:
            return {"sr": 0.0}
        return None

    def _install_sr_rule(self, epoch: int) -> None:
        """Put the right SR rule into the dataset for ``epoch`` (computing attention windows once)."""
        sr = self.cfg.sr
        if sr.rule != "attention":
            if self.dataset.sr_rule.name != sr.rule:  # once: the workers keep the rule they started with
                self.dataset.sr_rule = build_sr_rule(sr.rule, sr.window, self.grid)
        elif sr.windows_file is not None:
            if self.dataset.sr_rule.name == "attention":
                return
            self.dataset.sr_rule = build_sr_rule("attention", sr.window, self.grid,
                                                 load_windows(sr.windows_file, self.grid, sr.window))
        elif epoch >= sr.attention_stage_epochs and self.dataset.sr_rule.name != "attention":
            if self.windows_path.is_file():
                windows = load_windows(self.windows_path, self.grid, sr.window)
            else:
                windows = compute_windows(self.model, self.dataset, self.batcher, sr.window, self.cfg.optim.batch_size,
                                          self.device, self.info, self.dtype)
                if self.info.is_main:
                    save_windows(self.windows_path, windows)
                barrier(self.info)
            self.dataset.sr_rule = build_sr_rule("attention", sr.window, self.grid, windows)

    # ------------------------------------------------------------------------------
    # training
    def _loader(self, epoch: int, step_in_epoch: int) -> DataLoader:
        """The run's DataLoader, positioned at ``(epoch, step_in_epoch)``. Its workers persist across epochs
        (each keeps ``PREFETCH_BATCHES`` batches ready); it is rebuilt only when the dataset's SR rule changes,
        since the workers hold their own copy of the dataset."""
        bs = self.cfg.optim.batch_size
        self.sampler.set_position(epoch, step_in_epoch * self.cfg.optim.accum_steps * bs)
        loader = self._data_loader
        if loader is None or self._loader_rule is not self.dataset.sr_rule:
            workers = self.cfg.data.num_workers
            seeds = StepSeeds(self.cfg.run.seed, self.info.rank, bs, self.cfg.optim.accum_steps, self.steps_per_epoch)
            collate = TextCollate(self.batcher, seeds)  # text masking runs in the workers
            self._data_loader = loader = None  # lets the previous workers go first
            loader = DataLoader(self.dataset, batch_size=bs, sampler=self.sampler, num_workers=workers,
                                collate_fn=collate, drop_last=True, pin_memory=self.device.type == "cuda",
                                persistent_workers=workers > 0,
                                prefetch_factor=PREFETCH_BATCHES if workers > 0 else None)
            self._loader_rule = self.dataset.sr_rule  # the rule this loader's workers were started with
            self._data_loader = loader
        return loader

    def _images(self, batch: dict) -> torch.Tensor:
        """The batch's augmented hi-res images on the device, [B, 3, S, S]."""
        if "image_hr" in batch:
            return batch["image_hr"].to(self.device, non_blocking=True)
        d = self.cfg.data
        return augment_on_device(batch["crops"], batch["flip"], d.hr_size, d.mean, d.std, self.device)

    def train_step(self, batches, epoch: int) -> dict[str, float]:
        """Forward/backward over ``accum_steps`` micro-batches, then one optimizer step. Returns mean losses."""
        cfg, accum = self.cfg, self.cfg.optim.accum_steps
        totals = torch.zeros(len(LOSS_NAMES))
        for micro in range(accum):
            batch = next(batches)
            if batch["text_step"] != (self.step, micro):
                raise RuntimeError(f"data order broken: step {self.step}.{micro} got the batch of {batch['text_step']}")
            seed = derive_seed(cfg.run.seed, self.info.rank, self.step, micro)
            torch.manual_seed(seed)  # MAE masking noise and dropout
            text = batch["text"].to(self.device)  # masked with the same seed in the DataLoader worker
            imgs_hr = self._images(batch)
            sync = micro == accum - 1 or not self.info.distributed
            with nullcontext() if sync else self.ddp.no_sync():
                out = forward_step(self.ddp, imgs_hr, batch["sr_box"].to(self.device), text, cfg.model.img_size,
                                   self._sr_weights(epoch), self.dtype)
                self.scaler.scale(out.loss / accum).backward()
            values = [out.loss, *(out.losses[k] for k in LOSS_NAMES[1:])]
            totals += torch.stack([v.detach().float().cpu() for v in values])
        if cfg.optim.clip_grad is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        return dict(zip(LOSS_NAMES, (totals / accum).tolist()))

    def fit(self, on_step: Callable[[StepInfo], None] | None = None,
            stop: Callable[[DistInfo], bool] | None = None) -> list[dict[str, float]]:
        """Train from ``self.step`` to ``total_steps``; checkpoints, logs and returns each step's losses.

        ``stop`` is asked on every rank after every step (it must give all ranks the same answer); when it says
        yes before the end, the step is checkpointed and :class:`TrainingStopped` is raised (preemption).
        """
        cfg, history = self.cfg, []
        writer = self._writer()
        global_batch = cfg.optim.batch_size * cfg.optim.accum_steps * self.info.world_size
        started, start_step = time.perf_counter(), self.step
        self.model.train()
        while self.step < self.total_steps:
            epoch, step_in_epoch = divmod(self.step, self.steps_per_epoch)
            self._install_sr_rule(epoch)
            batches = iter(self._loader(epoch, step_in_epoch))
            for _ in range(step_in_epoch, min(self.steps_per_epoch, step_in_epoch + self.total_steps - self.step)):
                lr = self.optimizer.param_groups[0]["lr"]
                losses = self.train_step(batches, epoch)
                history.append(losses)
                if not all(np.isfinite(v) for v in losses.values()):
                    raise FloatingPointError(f"non-finite loss at step {self.step}: {losses}")
                if self.info.is_main:
                    elapsed = time.perf_counter() - started
                    rate = (self.step - start_step) * global_batch / max(elapsed, 1e-9)
                    info = StepInfo(self.step, self.total_steps, self.step / self.steps_per_epoch, losses, lr, rate,
                                    (self.total_steps - self.step) * global_batch / max(rate, 1e-9))
                    self._log(writer, info)
                    if on_step:
                        on_step(info)
                if self.step % cfg.run.checkpoint_every == 0 or self.step == self.total_steps:
                    self.save()
                elif stop is not None and stop(self.info):
                    self.save()
                    if writer is not None:
                        writer.close()
                    self._data_loader = None  # its persistent workers end with the last reference
                    raise TrainingStopped(self.step)
        if writer is not None:
            writer.close()
        self._data_loader = None
        return history

    def save(self) -> None:
        """Checkpoint on rank 0, then wait for everyone."""
        if self.info.is_main:
            ckpt.save_checkpoint(self.run_dir, self.step, self.state(), keep=self.cfg.run.keep_checkpoints)
        barrier(self.info)

    def _writer(self):
        if not self.info.is_main:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.run_dir / "tb"))

    def _log(self, writer, info: StepInfo) -> None:
        if info.step % self.cfg.run.log_every and info.step != info.total_steps:
            return
        for name, value in info.losses.items():
            writer.add_scalar(f"train/{name}", value, info.step)
        writer.add_scalar("train/lr", info.lr, info.step)
        writer.add_scalar("train/samples_per_s", info.samples_per_s, info.step)
        with (self.run_dir / "metrics.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": info.step, "lr": info.lr, **info.losses}) + "\n")


def summarise(history: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean losses over the first and the last 10% (at least one) of the steps."""
    if not history:
        return {}, {}
    k = max(1, len(history) // 10)
    mean = lambda rows: {n: float(np.mean([r[n] for r in rows])) for n in rows[0]}  # noqa: E731
    return mean(history[:k]), mean(history[-k:])


def backbone_path(cfg: PretrainConfig) -> Path:
    """``pretrained/ecamp-<name>-<config sha256[:8]>.safetensors``."""
    from ecamp_bench.paths import pretrained_dir

    return pretrained_dir() / f"ecamp-{cfg.name}-{config_sha256(to_dict(cfg))[:8]}.safetensors"


def run_pretraining(cfg: PretrainConfig, run_dir: Path, *, resume: bool = False,
                    pairs: list[PretrainPair] | None = None, image_loader: Callable[[str], np.ndarray] | None = None,
                    on_step: Callable[[StepInfo], None] | None = None, on_event: Callable[[str], None] | None = None,
                    stop: Callable[[DistInfo], bool] | None = None,
                    augment_on: str | None = None) -> tuple[PretrainResult, Trainer]:
    """Run (or resume) pre-training in ``run_dir`` and export the encoder. Works alone or under ``torchrun``.

    ``stop``: see :meth:`Trainer.fit` (raises :class:`TrainingStopped` after checkpointing).
    ``augment_on``: see :class:`Trainer` (None = on the GPU when training on one).
    """
    from ecamp_bench.pretrain.setup import prepare_run

    started = time.perf_counter()
    info, device = init_distributed(cfg.run.device)
    pairs, tokenizer, image_loader = prepare_run(cfg, Path(run_dir), info, resume=resume, pairs=pairs,
                                                 image_loader=image_loader, on_event=on_event)
    trainer = Trainer(cfg, run_dir, pairs, tokenizer, image_loader, info, device, augment_on)
    if cfg.run.init_checkpoint is not None and not resume:
        report = init_from_checkpoint(trainer.model, cfg.run.init_checkpoint)
        if on_event and info.is_main:
            on_event(f"initialised from {cfg.run.init_checkpoint}: {report.summary()}")
    latest = ckpt.latest_checkpoint(run_dir) if resume else None
    if latest is not None:
        trainer.restore(latest)
        if on_event and info.is_main:
            on_event(f"resumed from {latest} (step {trainer.step})")
    history = trainer.fit(attach_probe(cfg, trainer, f"file:{kebab(backbone_path(cfg).stem)}", on_step), stop)
    exported = None
    if cfg.run.export and info.is_main:
        exported = export_backbone(trainer.model, backbone_path(cfg), mean=cfg.data.mean, std=cfg.data.std,
                                   origin=f"ecamp-bench pretrain ({cfg.name}, {trainer.step} steps)",
                                   config_sha256=config_sha256(to_dict(cfg)))
        write_export_provenance(run_dir, exported, probe_metadata(run_dir))
    start, end = summarise(history)
    result = PretrainResult(Path(run_dir), trainer.step, time.perf_counter() - started, exported,
                            parameter_counts(trainer.model), start, end)
    return result, trainer
