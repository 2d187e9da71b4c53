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
METRICS = (
    MetricSpec(name="dice_per_image", primary=True,
               description="per-image Dice, empty truth → 1 iff empty prediction (Kaggle; MGCA/MRM/ECAMP)"),
    MetricSpec(name="dice_dataset", description="foreground Dice from intersections and sizes summed over the test set"),
    MetricSpec(name="dice_positive", description="per-image Dice averaged over images with pneumothorax only"),
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
