"""Boxes rendered as masks: RSNA pneumonia boxes as segmentation ground truth (MGCA/ECAMP ``rsna-seg``).

A pixel ``(row r, column c)`` belongs to box ``(x1, y1, x2, y2)`` (stored-image pixels, ``x`` = column) when its
centre ``(c + 0.5, r + 0.5)`` lies in ``[x1, x2) × [y1, y2)``; for integer coordinates that is columns
``x1 … x2 - 1`` and rows ``y1 … y2 - 1``, the ``width × height`` pixels the RSNA CSV describes. Several boxes are
OR-ed; an image without boxes has an empty mask (negatives are kept as empty masks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def boxes_to_mask(boxes: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """The boolean mask ``[height, width]`` covered by ``boxes`` ``[G, 4]`` ``(x1, y1, x2, y2)``."""
    mask = np.zeros((int(height), int(width)), dtype=bool)
    centres_x = np.arange(int(width)) + 0.5  # [W]
    centres_y = np.arange(int(height)) + 0.5  # [H]
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        rows = (centres_y >= y1) & (centres_y < y2)
        cols = (centres_x >= x1) & (centres_x < x2)
        mask |= rows[:, None] & cols[None, :]
    return mask


__all__ = ["boxes_to_mask"]
