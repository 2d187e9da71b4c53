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
from ecamp_bench_plugins.tasks.segmentation import MaskSegmentation, check_canvas, dice_metric_specs

LABEL = "Pneumothorax"
METRICS = dice_metric_specs("pneumothorax")


class SiimSegmentation(MaskSegmentation):
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

        height, width = check_canvas(sample, shape)
        try:
            return decode_merged(sample.mask_rle, height, width)
        except DataError as exc:
            raise DataError(exc.args[0], path=sample.image_path, key=sample.image_id) from None


IMPLEMENTATION = SiimSegmentation()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The SIIM pneumothorax segmentation task."""
    return [
        TaskSpec(
            name="siim-seg",
            published_splits={
                "mrm": "MRM/SIIM-ACR_Pneumothorax",
                "ecamp": "ECAMP/Segmentation/SIIM",
                "benchx": "BenchX/SIIM",
            },
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
