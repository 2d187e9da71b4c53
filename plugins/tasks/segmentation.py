"""Shared parts of the segmentation tasks (SIIM pneumothorax, RSNA pneumonia boxes as masks): the three Dice
conventions as metric specs, and ground truth attached at the predictions' resolution from the task's ``mask``.
"""

from __future__ import annotations

import numpy as np

from ecamp_bench.specs import MetricSpec, TaskSpec

_PAIRED = {"paired_test": "bootstrap", "value_fn": "ecamp_bench.evaluation.seg_metrics:metric_values"}


def dice_metric_specs(finding: str) -> tuple[MetricSpec, ...]:
    """``dice_per_image`` (primary; Kaggle, MGCA/MRM/ECAMP), ``dice_dataset`` and ``dice_positive`` of ``finding``."""
    return (
        MetricSpec(name="dice_per_image", primary=True,
                   description="per-image Dice, empty truth → 1 iff empty prediction (Kaggle; MGCA/MRM/ECAMP)",
                   **_PAIRED),
        MetricSpec(name="dice_dataset",
                   description="foreground Dice from intersections and sizes summed over the test set", **_PAIRED),
        MetricSpec(name="dice_positive", description=f"per-image Dice averaged over images with {finding} only",
                   **_PAIRED),
    )


class MaskSegmentation:
    """Base of a segmentation task implementation: subclasses define ``prepare``, ``targets`` and ``mask``."""

    def mask(self, spec: TaskSpec, sample, shape: tuple[int, int]) -> np.ndarray:
        """The boolean ground-truth mask ``[H, W]`` of ``sample`` on its stored image's ``shape`` canvas."""
        raise NotImplementedError

    def truth(self, spec: TaskSpec, table, predictions):
        """Ground-truth masks ``[N, S, S]`` uint8 at the predictions' resolution (nearest-neighbour resize)."""
        from ecamp_bench.data.images import load_image
        from ecamp_bench.data.masks import resize_mask

        size = int(predictions.scores.shape[-1]) if predictions.scores.ndim == 3 else 0
        masks = []
        for sample in table:
            shape = ((sample.height, sample.width) if sample.height and sample.width
                     else load_image(sample.image_path).shape)
            masks.append(resize_mask(self.mask(spec, sample, shape), size))
        stacked = np.stack(masks) if masks else np.zeros((0, size, size), dtype=np.uint8)
        return predictions.with_truth(stacked)

    def score(self, spec: TaskSpec, predictions, *, n_bootstrap: int, seed: int):
        """The three Dice figures of the predicted masks (``targets``/``scores`` ``[N, H, W]``)."""
        from ecamp_bench.evaluation.seg_metrics import segmentation_metrics

        return segmentation_metrics(predictions.targets, predictions.scores, n_bootstrap=n_bootstrap, seed=seed)


def check_canvas(sample, shape: tuple[int, int]) -> tuple[int, int]:
    """The sample's stored ``(height, width)`` (its DICOM header), which must equal the decoded image's ``shape``."""
    from ecamp_bench.errors import DataError

    height, width = (sample.height or shape[0]), (sample.width or shape[1])
    if (height, width) != tuple(shape):
        raise DataError(f"mask canvas {height}x{width} differs from the image's {shape[0]}x{shape[1]}",
                        path=sample.image_path)
    return height, width
