"""Task ``rsna-seg``: RSNA pneumonia boxes rendered as masks (MGCA and ECAMP lineage), three Dice conventions.

The samples, labels and split are ``rsna-det``'s: ``prepare`` is :class:`RsnaDetection`'s (every patient with a
defined Target, negatives kept with an empty mask, a positive without a box refused), so both tasks see the same
patients and the runner's split (patient-grouped, stratified on Pneumonia, ``split.seed``) puts every patient in
the same part for both, with the same nested fractions for a given run seed. The mask of an image is the union
of its boxes on the stored image's canvas (:func:`ecamp_bench.data.box_masks.boxes_to_mask`). Scored like
``siim-seg``: ``dice_per_image`` (Kaggle convention, primary — what MGCA/ECAMP report), ``dice_dataset`` and
``dice_positive``, each with a bootstrap CI. Protocols ``frozen-seg`` (MGCA/ECAMP: frozen ViT, SETR-style
decoder) and ``finetune-seg``.
"""

from __future__ import annotations

import numpy as np

from ecamp_bench.api import TaskSpec, hookimpl
from ecamp_bench_plugins.tasks.rsna_det import RsnaDetection
from ecamp_bench_plugins.tasks.segmentation import MaskSegmentation, check_canvas, dice_metric_specs

LABEL = "Pneumonia"
METRICS = dice_metric_specs("pneumonia boxes")


class RsnaSegmentation(MaskSegmentation):
    """``rsna-det``'s samples and split, with the boxes as masks."""

    detection = RsnaDetection()

    def prepare(self, spec: TaskSpec, table):
        """Exactly ``rsna-det``'s prepared samples (same filter, same stratification)."""
        return self.detection.prepare(spec, table)

    def targets(self, spec: TaskSpec, table) -> np.ndarray:
        """``[N, 1]``: 1 when the image has at least one box (split stratification and positive counts)."""
        return self.detection.targets(spec, table)

    def mask(self, spec: TaskSpec, sample, shape: tuple[int, int]) -> np.ndarray:
        """The union of the sample's boxes as a boolean mask ``[H, W]`` on its ``shape`` canvas (empty for
        negatives)."""
        from ecamp_bench.data.box_masks import boxes_to_mask

        height, width = check_canvas(sample, shape)
        return boxes_to_mask(self.detection.boxes(spec, sample), height, width)


IMPLEMENTATION = RsnaSegmentation()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The RSNA pneumonia segmentation task (boxes as masks)."""
    return [
        TaskSpec(
            name="rsna-seg",
            version=1,
            kind="segmentation",
            layout="rsna-pneumonia",
            labels=(LABEL,),
            metrics=METRICS,
            protocols=("frozen-seg", "finetune-seg"),
            implementation="ecamp_bench_plugins.tasks.rsna_seg:IMPLEMENTATION",
            description="RSNA pneumonia boxes as masks (rsna-det's patients and split), Dice per image / dataset / "
                        "positives; MGCA/ECAMP frozen lineage",
        )
    ]
