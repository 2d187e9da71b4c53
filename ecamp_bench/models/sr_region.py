"""Where the super-resolution loss looks: the SR region rules of docs/method.md, "SR region".

A region is first a **window of the patch grid** of the un-augmented source image (12×12 of 14×14 for the
paper: top-left corner (i, j) ∈ {0, 1, 2}²), stored as fractions ``(y0, x0, y1, x1)`` of the source image.
Because random-resized-crop and flip move the anatomy, the box is then **mapped through the same crop and
flip** as the image (:func:`map_box_through_crop`; the reference skips this step) and rasterised to a pixel
mask of the high-resolution image (:func:`region_mask`).

Rules (pluggable through :data:`SR_RULES` / :func:`register_sr_rule`):

- ``attention``: the window with the largest text→image attention mass of the report's entity tokens in the
  fusion layer of a model trained without the SR loss (:func:`entity_attention`, :func:`best_window`); the
  pre-trainer computes these windows in a first stage and saves them with the run.
- ``random``: a uniformly random window per sample and epoch.
- ``full``: the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ecamp_bench.errors import UnknownNameError

Box = tuple[float, float, float, float]  # (y0, x0, y1, x1)
FULL_BOX: Box = (0.0, 0.0, 1.0, 1.0)


def window_box(i: int, j: int, window: int, grid: int) -> Box:
    """The grid window with top-left patch (row i, column j) and side ``window`` as source-image fractions."""
    return (i / grid, j / grid, (i + window) / grid, (j + window) / grid)


def entity_attention(attn: torch.Tensor, entity_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average text→image attention over heads and entity tokens.

    attn: [N, heads, T, g, g]; entity_mask, attention_mask: [N, T]. A sample without entity tokens averages
    over all its (non-padding) tokens instead. Returns [N, g, g].
    """
    per_token = attn.float().mean(dim=1)  # [N, T, g, g]
    has_entity = entity_mask.any(dim=1, keepdim=True)  # [N, 1]
    weight = torch.where(has_entity, entity_mask, attention_mask.bool()).float()  # [N, T]
    weight = weight / weight.sum(dim=1, keepdim=True).clamp_min(1.0)
    return torch.einsum("nt,nthw->nhw", weight, per_token)


def best_window(attn_map: torch.Tensor, window: int) -> torch.Tensor:
    """Top-left (i, j) of the ``window``×``window`` window with the largest attention mass, per sample.

    attn_map: [N, g, g] → [N, 2] long. Ties go to the first window in raster order.
    """
    mass = F.avg_pool2d(attn_map[:, None].float(), kernel_size=window, stride=1)[:, 0]  # [N, g-w+1, g-w+1]
    flat = mass.flatten(1).argmax(dim=1)  # [N]
    side = mass.shape[-1]
    return torch.stack([flat // side, flat % side], dim=1)


def map_box_through_crop(
    box: Box, crop: tuple[int, int, int, int], source_size: tuple[int, int], out_size: int, flipped: bool
) -> tuple[float, float, float, float]:
    """Map a source-fraction box through random-resized-crop (+ horizontal flip) to output pixels.

    crop = (top, left, height, width) in source pixels (torchvision's ``get_params`` order);
    source_size = (H, W). The result is clipped to the ``out_size``² output; it is empty (y1 <= y0 or
    x1 <= x0) when the crop misses the window, and then the sample adds nothing to the SR loss.
    """
    top, left, height, width = crop
    src_h, src_w = source_size
    y0 = (box[0] * src_h - top) * out_size / height
    y1 = (box[2] * src_h - top) * out_size / height
    x0 = (box[1] * src_w - left) * out_size / width
    x1 = (box[3] * src_w - left) * out_size / width
    if flipped:
        x0, x1 = out_size - x1, out_size - x0
    clip = lambda v: min(max(v, 0.0), float(out_size))  # noqa: E731
    return (clip(y0), clip(x0), clip(y1), clip(x1))


def region_mask(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Rasterise pixel boxes [N, 4] (y0, x0, y1, x1) to masks [N, 1, size, size] (pixel centres inside = 1)."""
    centres = torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5  # [S]
    rows = (centres[None, :] >= boxes[:, 0:1]) & (centres[None, :] < boxes[:, 2:3])  # [N, S]
    cols = (centres[None, :] >= boxes[:, 1:2]) & (centres[None, :] < boxes[:, 3:4])  # [N, S]
    return (rows[:, :, None] & cols[:, None, :]).float()[:, None]


class SRRegionRule(Protocol):
    """A rule that gives the SR window of one pair as fractions of its un-augmented source image."""

    name: str

    def source_box(self, key: str, rng: np.random.Generator) -> Box:
        """The box of pair ``key``; ``rng`` is the pair's own generator for this epoch."""
        ...


class FullRegion:
    """The whole image."""

    name = "full"

    def source_box(self, key: str, rng: np.random.Generator) -> Box:
        """Always the full image."""
        return FULL_BOX


class RandomRegion:
    """A uniformly random ``window``×``window`` window of the ``grid``×``grid`` patch grid."""

    name = "random"

    def __init__(self, window: int, grid: int):
        self.window, self.grid = window, grid

    def source_box(self, key: str, rng: np.random.Generator) -> Box:
        """A fresh random window (drawn from the pair's generator)."""
        i, j = (int(v) for v in rng.integers(0, self.grid - self.window + 1, size=2))
        return window_box(i, j, self.window, self.grid)


class AttentionRegion:
    """The attention-derived window of each pair, looked up by pair key; unknown keys fall back to ``full``."""

    name = "attention"

    def __init__(self, windows: Mapping[str, tuple[int, int]], window: int, grid: int):
        self.windows, self.window, self.grid = dict(windows), window, grid

    def source_box(self, key: str, rng: np.random.Generator) -> Box:
        """The stored window of ``key`` (the whole image if the pair has none)."""
        if key not in self.windows:
            return FULL_BOX
        i, j = self.windows[key]
        return window_box(i, j, self.window, self.grid)


SR_RULES: dict[str, Callable[..., SRRegionRule]] = {
    "full": lambda window, grid, windows=None: FullRegion(),
    "random": lambda window, grid, windows=None: RandomRegion(window, grid),
    "attention": lambda window, grid, windows=None: AttentionRegion(windows or {}, window, grid),
}


def register_sr_rule(name: str, factory: Callable[..., SRRegionRule]) -> None:
    """Add a rule: ``factory(window=, grid=, windows=)`` returns an object with ``source_box(key, rng)``."""
    SR_RULES[name] = factory


def build_sr_rule(name: str, window: int, grid: int,
                  windows: Mapping[str, tuple[int, int]] | None = None) -> SRRegionRule:
    """Instantiate the rule called ``name`` (:class:`UnknownNameError` lists the valid ones)."""
    if name not in SR_RULES:
        raise UnknownNameError("SR region rule", name, SR_RULES)
    return SR_RULES[name](window=window, grid=grid, windows=windows)
