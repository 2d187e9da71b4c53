"""SR region rules: the attention window, the crop/flip mapping (the window moves with the anatomy), masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecamp_bench.errors import UnknownNameError
from ecamp_bench.models.sr_region import (
    FULL_BOX, best_window, build_sr_rule, entity_attention, map_box_through_crop, region_mask, window_box,
)
from ecamp_bench.pretrain.data import PretrainDataset, PretrainPair


def test_best_window_picks_the_window_with_the_most_attention_mass():
    attn = torch.full((2, 14, 14), 0.001)
    attn[0, 13, 13] = 1.0  # mass in the bottom-right corner → window (2, 2)
    attn[1, 0, 5] = 0.5  # top row → i = 0; columns 5..: j in 0..2 all cover col 5 → first in raster order
    attn[1, 13, 0] = 0.4  # bottom-left: would need i = 2, j = 0 (smaller mass)
    assert best_window(attn, 12).tolist() == [[2, 2], [0, 0]]
    small = torch.zeros(1, 4, 4)
    small[0, 3, 1] = 1.0
    small[0, 0, 3] = 0.9
    assert best_window(small, 2).tolist() == [[2, 0]]


def test_entity_attention_averages_heads_and_entity_tokens_only():
    attn = torch.zeros(1, 2, 3, 2, 2)  # [N, heads, T, g, g]
    attn[0, 0, 1, 0, 0] = 1.0  # entity token 1, head 0 → (0, 0)
    attn[0, 1, 1, 1, 1] = 1.0  # entity token 1, head 1 → (1, 1)
    attn[0, :, 2, 0, 1] = 1.0  # a non-entity token: ignored
    out = entity_attention(attn, torch.tensor([[False, True, False]]), torch.ones(1, 3))
    assert out[0].tolist() == [[0.5, 0.0], [0.0, 0.5]]
    fallback = entity_attention(attn, torch.zeros(1, 3, dtype=torch.bool), torch.tensor([[0, 1, 1]]))
    assert fallback[0].tolist() == [[0.25, 0.5], [0.0, 0.25]]  # no entity: average over tokens 1 and 2


def test_window_box_in_the_paper_geometry():
    y0, x0, y1, x1 = (v * 448 for v in window_box(1, 2, 12, 14))
    assert (y0, x0, y1, x1) == pytest.approx((32, 64, 416, 448))


def test_box_mapping_through_identity_shift_scale_and_flip():
    box = (0.25, 0.5, 0.75, 1.0)  # source 100×200: rows 25..75, cols 100..200
    assert map_box_through_crop(box, (0, 0, 100, 200), (100, 200), 50, False) == pytest.approx((12.5, 25, 37.5, 50))
    # crop rows 25..75, cols 100..200 → the box fills the output; flipping keeps it full
    assert map_box_through_crop(box, (25, 100, 50, 100), (100, 200), 50, True) == pytest.approx((0, 0, 50, 50))
    # crop the left half of the image: box is outside → empty after clipping
    y0, x0, y1, x1 = map_box_through_crop(box, (0, 0, 100, 100), (100, 200), 50, False)
    assert x1 <= x0
    # flip mirrors x: a box on the left half of the output goes to the right half
    assert map_box_through_crop((0, 0, 1, 0.5), (0, 0, 10, 10), (10, 10), 20, True) == pytest.approx((0, 10, 20, 20))


def test_region_mask_rasterises_pixel_centres():
    mask = region_mask(torch.tensor([[1.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]]), 6)
    assert mask.shape == (2, 1, 6, 6)
    assert mask[0, 0].nonzero().tolist() == [[r, c] for r in (1, 2) for c in (2, 3, 4)]
    assert mask[1].sum() == 0


class _SquareRule:
    """A rule whose window is the bright square of the test image."""

    name = "square"

    def source_box(self, key, rng):
        return (20 / 80, 50 / 100, 40 / 80, 80 / 100)


def test_window_moves_with_the_anatomy_under_crop_and_flip():
    """Bright square (rows 20..40, cols 50..80 of an 80×100 image) = the window; after random-resized-crop
    and flip the mapped region must still lie on the bright pixels of the augmented image."""
    src = np.zeros((80, 100), dtype=np.float32)
    src[20:40, 50:80] = 1.0
    ds = PretrainDataset([PretrainPair("a", "a.png", "r", None)], hr_size=64, crop_scale=(0.5, 1.0),
                         crop_ratio=(0.75, 1.333), hflip_prob=0.5, mean=0.0, std=1.0, sr_rule=_SquareRule(), seed=3,
                         image_loader=lambda path: src)
    checked = flipped_seen = 0
    for epoch in range(40):
        item = ds[(epoch, 0)]
        mask = region_mask(item["sr_box"][None], 64)[0, 0].bool()
        img = item["image_hr"][0]
        if mask.sum() < 20:
            continue  # the crop (mostly) missed the square
        inside, outside = img[mask].mean().item(), img[~mask].mean().item()
        assert inside > 0.8 and outside < 0.2, (epoch, inside, outside)
        checked += 1
        flipped_seen += int(item["sr_box"][1] < 64 - item["sr_box"][3])  # square left of centre → flipped
    assert checked >= 20 and flipped_seen >= 3


def test_rules_full_random_attention_and_unknown_names():
    rng = np.random.default_rng(0)
    assert build_sr_rule("full", 12, 14).source_box("k", rng) == FULL_BOX
    corners = {build_sr_rule("random", 12, 14).source_box("k", rng) for _ in range(100)}
    assert corners == {window_box(i, j, 12, 14) for i in range(3) for j in range(3)}
    attention = build_sr_rule("attention", 12, 14, {"k": (2, 1)})
    assert attention.source_box("k", rng) == window_box(2, 1, 12, 14)
    assert attention.source_box("unknown", rng) == FULL_BOX
    with pytest.raises(UnknownNameError, match="Did you mean 'random'"):
        build_sr_rule("randon", 12, 14)
