"""Kaggle SIIM-ACR run-length encoding (stage 1): relative starts, column-major pixel order.

The stage-1 ``train-rle.csv`` stores each region as ``"start length start length ..."`` where every
``start`` counts the background pixels since the end of the previous run (the first counts from pixel 0),
and pixels are numbered column by column (``x * height + y``, i.e. the transposed image flattened).
``"-1"`` means an empty mask. Everything here is vectorised with numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ecamp_bench.errors import DataError

EMPTY = "-1"


def _parse(rle: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute (start, end) pixel offsets of the runs in ``rle``; raises ``DataError`` on malformed input."""
    text = rle.strip()
    if text in ("", EMPTY):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    parts = text.split()
    try:
        values = np.array([int(p) for p in parts], dtype=np.int64)
    except ValueError:
        bad = next(p for p in parts if not p.lstrip("-").isdigit())
        raise DataError(f"malformed RLE: {bad!r} is not an integer") from None
    if values.size % 2:
        raise DataError(f"malformed RLE: odd number of values ({values.size}); expected start/length pairs")
    rel_starts, lengths = values[0::2], values[1::2]
    if (rel_starts < 0).any() or (lengths <= 0).any():
        raise DataError("malformed RLE: negative start or non-positive run length")
    # absolute start_i = sum(rel_starts[:i+1]) + sum(lengths[:i])
    starts = np.cumsum(rel_starts) + np.concatenate(([0], np.cumsum(lengths)[:-1]))
    ends = starts + lengths
    if ends[-1] > height * width:
        raise DataError(f"malformed RLE: runs reach pixel {int(ends[-1])}, beyond the {height}x{width} image")
    return starts, ends


def rle_decode(rle: str, height: int, width: int) -> np.ndarray:
    """Decode one Kaggle SIIM RLE string into a boolean mask ``[height, width]`` (``"-1"`` → all False)."""
    starts, ends = _parse(rle, height, width)
    edges = np.zeros(height * width + 1, dtype=np.int32)
    np.add.at(edges, starts, 1)
    np.add.at(edges, ends, -1)
    flat = np.cumsum(edges[:-1]) > 0  # column-major pixel order
    return flat.reshape(width, height).T


def rle_encode(mask: np.ndarray) -> str:
    """Encode a boolean mask ``[H, W]`` in the Kaggle SIIM format; an empty mask gives ``"-1"``."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)  # column-major pixel order
    padded = np.concatenate(([False], flat, [False])).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    if changes.size == 0:
        return EMPTY
    starts, ends = changes[0::2], changes[1::2]
    previous_ends = np.concatenate(([0], ends[:-1]))
    pairs = np.stack([starts - previous_ends, ends - starts], axis=1).reshape(-1)
    return " ".join(map(str, pairs.tolist()))


def decode_merged(rles: Iterable[str], height: int, width: int) -> np.ndarray:
    """OR together the masks of all RLE rows of one image into one boolean mask ``[height, width]``."""
    mask = np.zeros((height, width), dtype=bool)
    for rle in rles:
        mask |= rle_decode(rle, height, width)
    return mask


def check_rle(rle: str, height: int, width: int) -> None:
    """Raise :class:`DataError` if ``rle`` is malformed or runs past a ``height`` x ``width`` image (no mask is
    built)."""
    _parse(rle, height, width)
