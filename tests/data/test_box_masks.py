"""RSNA boxes as masks: pixel-centre rule, union of boxes, empty masks for negatives."""

from __future__ import annotations

import numpy as np

from ecamp_bench.data.box_masks import boxes_to_mask


def test_integer_box_covers_exactly_width_times_height_pixels():
    mask = boxes_to_mask([(2, 1, 5, 3)], 6, 8)  # x 2..4, y 1..2
    expected = np.zeros((6, 8), dtype=bool)
    expected[1:3, 2:5] = True
    assert (mask == expected).all() and mask.sum() == 3 * 2


def test_fractional_edges_use_pixel_centres_and_boxes_are_ored():
    mask = boxes_to_mask([(0.4, 0.6, 2.5, 1.6), (1.0, 0.0, 2.0, 4.0)], 4, 4)
    expected = np.zeros((4, 4), dtype=bool)
    expected[1, 0:2] = True  # centres x 0.5, 1.5 in [0.4, 2.5); y 1.5 in [0.6, 1.6); x 2.5 excluded
    expected[:, 1] = True
    assert (mask == expected).all()


def test_no_box_and_clipped_box():
    assert not boxes_to_mask([], 5, 7).any() and boxes_to_mask([], 5, 7).shape == (5, 7)
    assert boxes_to_mask([(5, 5, 50, 50)], 8, 8).sum() == 9  # clipped to the canvas
