"""Pre-training pairs, their augmentation, and a resumable distributed sampler.

Every random choice for a sample (crop, flip, random SR window) comes from a generator seeded by
``(seed, epoch, index)``, and the sampler's order from ``(seed, epoch)``; so the data a step sees depends only
on the step, which makes a resumed run identical to an uninterrupted one and workers irrelevant.

Where the augmentation runs (``augment_on``): ``"worker"`` resizes, flips and normalises each sample in the
DataLoader worker; ``"device"`` leaves the worker only the decode (at reduced scale) and the crop on the uint8
pixels, and :func:`augment_on_device` does the rest for the whole batch on the training device (the GPU). Both
compute the same function: on one device their outputs are bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, DistributedSampler

from ecamp_bench.data.images import as_unit_float
from ecamp_bench.models.sr_region import SRRegionRule, map_box_through_crop

AUGMENT_PLACES = ("worker", "device")


@dataclass(frozen=True)
class PretrainPair:
    """One image-report pair: ``key`` names it (the image id), ``context`` is its distilled context or None."""

    key: str
    image_path: str
    report: str
    context: str | None
    study_id: str = ""


def random_resized_crop_params(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop covering ``scale`` of the area with aspect ``ratio`` (torchvision's
    rule: 10 tries, then a centre crop at the clamped ratio), drawn from ``rng``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resize(img: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased) resize of [..., C, H, W] to size×size, clamped back to [0, 1]."""
    batched = img if img.dim() == 4 else img[None]
    out = F.interpolate(batched, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    out = out.clamp(0.0, 1.0)
    return out if img.dim() == 4 else out[0]


class PretrainDataset(Dataset):
    """Pairs → augmented high-resolution image (or its uint8 crop), SR box (in its pixels), report and context.

    Indexed by ``(epoch, index)`` (what :class:`ResumableDistributedSampler` yields). ``sr_rule`` can be
    replaced between epochs (the ``attention`` rule is installed after its first stage). ``image_loader``
    returns ``[H, W]`` uint8 or float32 in [0, 1] (:func:`~ecamp_bench.data.images.load_image_array`).
    ``augment_on``: see the module docstring.
    """

    def __init__(
        self,
        pairs: Sequence[PretrainPair],
        *,
        hr_size: int,
        crop_scale: tuple[float, float],
        crop_ratio: tuple[float, float],
        hflip_prob: float,
        mean: float,
        std: float,
        sr_rule: SRRegionRule,
        seed: int,
        image_loader: Callable[[str], np.ndarray],
        augment_on: str = "worker",
    ):
        if augment_on not in AUGMENT_PLACES:
            raise ValueError(f"augment_on must be one of {AUGMENT_PLACES}, got {augment_on!r}")
        self.pairs = list(pairs)
        self.hr_size, self.crop_scale, self.crop_ratio = hr_size, crop_scale, crop_ratio
        self.hflip_prob, self.mean, self.std = hflip_prob, mean, std
        self.sr_rule, self.seed, self.image_loader = sr_rule, seed, image_loader
        self.augment_on = augment_on

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> torch.Tensor:
        """The source image as [1, H, W] float32 in [0, 1]."""
        return torch.from_numpy(as_unit_float(self.image_loader(self.pairs[index].image_path)))[None]

    def normalise(self, img: torch.Tensor) -> torch.Tensor:
        """Grey [1, H, W] in [0, 1] → normalised 3-channel [3, H, W]."""
        return ((img - self.mean) / self.std).expand(3, -1, -1).contiguous()

    def __getitem__(self, item: tuple[int, int] | tuple[int, int, int]) -> dict:
        """``(epoch, index)`` or ``(epoch, index, position)`` (the sample's place in this rank's epoch)."""
        epoch, index = item[0], item[1]
        position = item[2] if len(item) > 2 else -1
        rng = np.random.default_rng([self.seed, epoch, index])
        pair = self.pairs[index]
        source = self.image_loader(pair.image_path)  # [H, W] uint8 or float32
        height, width = source.shape[-2:]
        top, left, h, w = random_resized_crop_params(height, width, self.crop_scale, self.crop_ratio, rng)
        flipped = bool(rng.random() < self.hflip_prob)
        box = map_box_through_crop(
            self.sr_rule.source_box(pair.key, rng), (top, left, h, w), (height, width), self.hr_size, flipped
        )
        crop = np.ascontiguousarray(source[top : top + h, left : left + w])  # [h, w], still uint8
        sample = {"sr_box": torch.tensor(box), "report": pair.report, "context": pair.context, "key": pair.key,
                  "epoch": epoch, "position": position}
        if self.augment_on == "device":
            return {**sample, "crop": torch.from_numpy(crop), "flip": flipped}
        hr = resize(torch.from_numpy(as_unit_float(crop))[None], self.hr_size)  # [1, S, S]
        if flipped:
            hr = hr.flip(-1)
        return {**sample, "image_hr": self.normalise(hr)}

    def plain_view(self, index: int, size: int) -> torch.Tensor:
        """The un-augmented whole image resized to ``size`` and normalised, [3, size, size] (SR windows)."""
        return self.normalise(resize(self._load(index), size))


def pack_crops(crops: Sequence[torch.Tensor]) -> dict:
    """Crops of different sizes ([h, w] each) → one flat buffer (no padding), their sizes [B, 2] and offsets [B]
    (element offsets into the buffer). Mixed dtypes are brought to float32 in [0, 1]."""
    if len({c.dtype for c in crops}) > 1:
        crops = [torch.from_numpy(as_unit_float(c.numpy())) for c in crops]
    sizes = torch.tensor([list(c.shape) for c in crops], dtype=torch.long)
    counts = sizes.prod(dim=1)
    offsets = torch.cumsum(counts, 0) - counts
    return {"pixels": torch.cat([c.reshape(-1) for c in crops]), "sizes": sizes, "offsets": offsets}


def augment_on_device(crops: dict, flips: torch.Tensor, size: int, mean: float, std: float,
                      device: torch.device) -> torch.Tensor:
    """The device half of ``augment_on="device"``: crops (:func:`pack_crops`) → [B, 3, size, size] normalised.

    Per sample: to float in [0, 1], the antialiased bicubic resize of :func:`resize` (one call per crop, each
    on the device), clamp, flip; then one normalisation for the batch. The buffer crosses to the device once.
    """
    pixels = crops["pixels"].to(device, non_blocking=True)
    unit = pixels.float() / 255.0 if pixels.dtype == torch.uint8 else pixels.float()
    sizes, offsets, flips = crops["sizes"].tolist(), crops["offsets"].tolist(), flips.tolist()
    out = torch.empty(len(sizes), 1, size, size, device=device)
    for i, ((h, w), start) in enumerate(zip(sizes, offsets)):
        hr = resize(unit[start : start + h * w].view(1, 1, h, w), size)
        out[i] = hr[0].flip(-1) if flips[i] else hr[0]
    return ((out - mean) / std).expand(-1, 3, -1, -1).contiguous()


def collate(items: list[dict]) -> dict:
    """Stack tensors; keep reports, contexts and keys as lists. Worker-augmented items give ``image_hr``
    [B, 3, S, S]; device-augmented ones ``crops`` (:func:`pack_crops`) and ``flip`` [B] bool."""
    out = {
        "sr_box": torch.stack([it["sr_box"] for it in items]),  # [B, 4]
        "report": [it["report"] for it in items],
        "context": [it["context"] for it in items],
        "key": [it["key"] for it in items],
    }
    if "crop" in items[0]:
        out["crops"] = pack_crops([it["crop"] for it in items])
        out["flip"] = torch.tensor([it["flip"] for it in items])
    else:
        out["image_hr"] = torch.stack([it["image_hr"] for it in items])  # [B, 3, S, S]
    return out


@dataclass(frozen=True)
class StepSeeds:
    """The seed of a micro-batch's text masking from where its first sample sits in the epoch:
    ``derive_seed(seed, rank, step, micro)`` with the step and micro-step that will consume it."""

    seed: int
    rank: int
    batch_size: int
    accum_steps: int
    steps_per_epoch: int

    def __call__(self, epoch: int, position: int) -> tuple[int, int, int]:
        """(seed, step, micro) of the micro-batch starting at ``position`` of epoch ``epoch``."""
        from ecamp_bench.distributed import derive_seed

        batch_in_epoch = position // self.batch_size
        step = epoch * self.steps_per_epoch + batch_in_epoch // self.accum_steps
        micro = batch_in_epoch % self.accum_steps
        return derive_seed(self.seed, self.rank, step, micro), step, micro


class TextCollate:
    """Collate function that also inserts contexts, tokenises and masks the batch's text (in the DataLoader
    worker, so the training process never stalls on it). The masking generator is seeded by
    :class:`StepSeeds`, so the result does not depend on the number of workers."""

    def __init__(self, batcher, seeds: StepSeeds):
        self.batcher, self.seeds = batcher, seeds

    def __call__(self, items: list[dict]) -> dict:
        out = collate(items)
        seed, step, micro = self.seeds(items[0]["epoch"], items[0]["position"])
        out["text"] = self.batcher(out["report"], out["context"], torch.Generator().manual_seed(seed))
        out["text_step"] = (step, micro)
        return out


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` that yields ``(epoch, index, position)`` and can start part-way through an epoch
    (``position``: the sample's place in this rank's epoch, counted from the epoch's start)."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch ``epoch`` from this rank's ``start``-th sample on."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        indices = list(super().__iter__())[self.start :]
        return iter([(self.epoch, i, self.start + k) for k, i in enumerate(indices)])

    def __len__(self) -> int:
        return self.num_samples - self.start
