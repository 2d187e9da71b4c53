"""Ground-truth masks at an evaluated resolution: one resize rule shared by training data and scoring.

:func:`resize_mask` is OpenCV's nearest-neighbour resize (``cv2.INTER_NEAREST``, the same call as
``mmcv.imresize(..., interpolation="nearest")``), so the masks a segmentation protocol trains on and the
masks a task scores against are identical pixel for pixel.
"""

from __future__ import annotations

import numpy as np


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """``[H, W]`` bool/uint8 mask → uint8 ``[size, size]`` (nearest neighbour; the aspect ratio is not kept)."""
    import cv2

    return cv2.resize(np.asarray(mask, dtype=np.uint8), (int(size), int(size)), interpolation=cv2.INTER_NEAREST)


__all__ = ["resize_mask"]
