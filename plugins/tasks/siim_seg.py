"""Task ``siim-seg``: SIIM-ACR pneumothorax segmentation, split by image, three Dice conventions.

Every SIIM image is a sample (its RLE rows merged into one mask); the split groups by image (the group
key is the ImageId, as MRM/ECAMP split SIIM by image), stratified on pneumothorax yes/no so val and test
hold positives; fractions are nested as for every task. Scored by
:func:`ecamp_bench.evaluation.seg_metrics.segmentation_metrics`: ``dice_per_image`` (Kaggle convention,
primary — what MGCA/MRM/ECAMP report), ``dice_dataset`` and ``dice_positive``, each with a bootstrap CI.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ecamp_bench.api import TaskSpec, hookimpl
from ecamp_bench.specs import MetricSpec

LABEL = "Pneumothorax"
_PAIRED = {"paired_test": "bootstrap", "value_fn": "ecamp_bench.evaluation.seg_metrics:metric_values"}
METRICS = (
    MetricSpec(name="dice_per_image", primary=True,
               description="per-image Dice, empty truth → 1 iff empty prediction (Kaggle; MGCA/MRM/ECAMP)", **_PAIRED),
    MetricSpec(name="dice_dataset", description="foreground Dice from intersections and sizes summed over the test set",
               **_PAIRED),
    MetricSpec(name="dice_positive", description="per-image Dice averaged over images with pneumothorax only", **_PAIRED),
)  # fmt: skip


class SiimSegmentation:
    """The ``siim-seg`` task implementation (see the module docstring)."""

    def prepare(self, spec: TaskSpec, table):
        """Every image with a 0/1 label, grouped by image (``patient_id`` := ``image_id``), stratified on the label."""
        from ecamp_bench.evaluation.context import PreparedTask

        usable = table.filter(lambda s: s.label(LABEL) in (0.0, 1.0))
        by_image = usable.map(lambda s: replace(s, patient_id=s.image_id))
        return PreparedTask(table=by_image, fixed_test_ids=None, stratify=(LABEL,))

    def targets(self, spec: TaskSpec, table) -> np.ndarray:
        """``[N, 1]`` pneumothorax yes/no (used for split stratification and positive counts)."""
        return table.label_matrix((LABEL,)).astype(np.float32)

    def mask(self, spec: TaskSpec, sample, shape: tuple[int, int]) -> np.ndarray:
        """The merged boolean mask ``[H, W]`` of the sample's Kaggle RLE rows on its ``shape`` canvas.

        The canvas is the sample's stored ``height × width`` (from the DICOM header); a mismatch with
        ``shape`` (the decoded image) or a malformed RLE is a DataError naming the image.
        """
        from ecamp_bench.data.rle import decode_merged
        from ecamp_bench.errors import DataError

        height, width = (sample.height or shape[0]), (sample.width or shape[1])
        if (height, width) != tuple(shape):
            raise DataError(f"mask canvas {height}x{width} differs from the image's {shape[0]}x{shape[1]}", path=sample.image_path)
        try:
            return decode_merged(sample.mask_rle, height, width)
        except DataError as exc:
            raise DataError(exc.args[0], path=sample.image_path, key=sample.image_id) from None

    def truth(self, spec: TaskSpec, table, predictions):
        """Ground-truth masks ``[N, S, S]`` uint8 at the predictions' resolution (nearest-neighbour resize)."""
        from ecamp_bench.data.images import load_image
        from ecamp_bench.data.masks import resize_mask

        size = int(predictions.scores.shape[-1]) if predictions.scores.ndim == 3 else 0
        masks = []
        for sample in table:
            shape = (sample.height, sample.width) if sample.height and sample.width else load_image(sample.image_path).shape
            masks.append(resize_mask(self.mask(spec, sample, shape), size))
        stacked = np.stack(masks) if masks else np.zeros((0, size, size), dtype=np.uint8)
        return predictions.with_truth(stacked)

    def score(self, spec: TaskSpec, predictions, *, n_bootstrap: int, seed: int):
        """The three Dice figures of the predicted masks (``targets``/``scores`` ``[N, H, W]``)."""
        from ecamp_bench.evaluation.seg_metrics import segmentation_metrics

        return segmentation_metrics(predictions.targets, predictions.scores, n_bootstrap=n_bootstrap, seed=seed)


IMPLEMENTATION = SiimSegmentation()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The SIIM pneumothorax segmentation task."""
    return [
        TaskSpec(
            name="siim-seg",
            version=1,
            kind="segmentation",
            layout="siim-acr",
            labels=(LABEL,),
            metrics=METRICS,
            protocols=("frozen-seg", "finetune-seg"),
            implementation="ecamp_bench_plugins.tasks.siim_seg:IMPLEMENTATION",
            description="SIIM-ACR pneumothorax masks (split by image), Dice per image / dataset / positives",
        )
    ]
