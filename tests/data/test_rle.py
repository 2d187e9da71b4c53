"""Kaggle SIIM RLE: relative starts, column-major order, "-1" empty, merging, malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from ecamp_bench.data.rle import check_rle, decode_merged, rle_decode, rle_encode
from ecamp_bench.errors import DataError


def test_decode_hand_made_kaggle_string_is_relative_and_column_major():
    # 4 rows x 3 columns. Column-major numbering: pixel (y, x) has index x * 4 + y.
    # "1 2 3 1": run at absolute 1..2, then skip 3 pixels after it ends (index 3) -> starts at 6, length 1.
    mask = rle_decode("1 2 3 1", 4, 3)
    expected = np.zeros((4, 3), dtype=bool)
    expected[1, 0] = expected[2, 0] = True  # indices 1, 2 -> column 0, rows 1-2
    expected[2, 1] = True  # index 6 -> column 1, row 2
    assert mask.dtype == bool and mask.shape == (4, 3)
    np.testing.assert_array_equal(mask, expected)


def test_encode_matches_the_hand_made_string_and_empty_is_minus_one():
    mask = np.zeros((4, 3), dtype=bool)
    mask[1:3, 0] = True
    mask[2, 1] = True
    assert rle_encode(mask) == "1 2 3 1"
    assert rle_encode(np.zeros((5, 5), bool)) == "-1"
    assert not rle_decode("-1", 5, 5).any()
    assert not rle_decode(" -1 ", 5, 5).any()


def test_run_touching_the_last_pixel_and_a_full_mask_round_trip():
    full = np.ones((3, 2), dtype=bool)
    assert rle_encode(full) == "0 6"
    corner = np.zeros((3, 2), dtype=bool)
    corner[2, 1] = True
    assert rle_encode(corner) == "5 1"
    np.testing.assert_array_equal(rle_decode("5 1", 3, 2), corner)


@pytest.mark.parametrize("shape", [(16, 16), (13, 29), (64, 40)])
def test_random_masks_round_trip_exactly(shape):
    rng = np.random.default_rng(sum(shape))
    mask = rng.random(shape) < 0.3
    np.testing.assert_array_equal(rle_decode(rle_encode(mask), *shape), mask)


def test_decode_merged_ors_all_rows():
    a = np.zeros((8, 8), bool)
    a[1:3, 1:3] = True
    b = np.zeros((8, 8), bool)
    b[5:7, 4:8] = True
    merged = decode_merged([rle_encode(a), "-1", rle_encode(b)], 8, 8)
    np.testing.assert_array_equal(merged, a | b)


@pytest.mark.parametrize("bad, why", [("1 2 3", "odd"), ("1 x", "not an integer"), ("1 0", "non-positive"),
                                      ("-3 2", "negative"), ("60 10", "beyond")])
def test_malformed_rle_raises_data_error(bad, why):
    with pytest.raises(DataError, match=why):
        rle_decode(bad, 8, 8)
    with pytest.raises(DataError, match=why):
        check_rle(bad, 8, 8)
