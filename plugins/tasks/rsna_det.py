"""Task ``rsna-det``: pneumonia boxes on RSNA Pneumonia Detection stage 2 images, COCO-style mAP.

Every RSNA patient is a sample (negatives with no box included); the split is the runner's patient-grouped
split stratified by Pneumonia yes/no, with nested label fractions. Metrics (``ecamp_bench.evaluation.det_metrics``):
``map_40_75`` (primary, all test images), ``map_40_75_mgca`` (MGCA's optimistic subset), ``map_50`` and
``kaggle_rsna``, each with a bootstrap 95% CI over test images.
"""

from __future__ import annotations

import numpy as np

from ecamp_bench.api import MetricSpec, TaskSpec, hookimpl

LABELS = ("Pneumonia",)
_PAIRED = {"paired_test": "bootstrap", "value_fn": "ecamp_bench.evaluation.det_metrics:metric_values"}
METRICS = (
    MetricSpec(name="map_40_75", primary=True,
               description="COCO-style AP averaged over IoU 0.40:0.05:0.75 over all test images", **_PAIRED),
    MetricSpec(name="map_40_75_mgca",
               description="map_40_75 on images with a true box and a prediction only (MGCA's optimistic subset)",
               **_PAIRED),
    MetricSpec(name="map_50", description="COCO-style AP at IoU 0.5 over all test images", **_PAIRED),
    MetricSpec(name="kaggle_rsna",
               description="RSNA challenge score: mean over IoU 0.40-0.75 of TP/(TP+FP+FN) per image; "
                           "images with no box and no prediction excluded", **_PAIRED),
)


class RsnaDetection:
    """Samples, image-level targets and detection scoring of ``rsna-det``."""

    def prepare(self, spec: TaskSpec, table):
        """Keep every sample with a defined Pneumonia label; a positive without a box is a DataError."""
        from ecamp_bench.errors import DataError
        from ecamp_bench.evaluation.context import PreparedTask

        for sample in table:
            if sample.label(LABELS[0]) == 1.0 and not sample.boxes:
                raise DataError("a Target 1 patient has no box", path=sample.image_path, key="x")
        kept = table.filter(lambda s: s.label(LABELS[0]) in (0.0, 1.0))
        return PreparedTask(table=kept, fixed_test_ids=None, stratify=LABELS)

    def targets(self, spec: TaskSpec, table) -> np.ndarray:
        """``[N, 1]``: 1 when the image has at least one true box."""
        return np.array([[float(len(s.boxes) > 0)] for s in table], dtype=np.float32).reshape(-1, 1)

    def boxes(self, spec: TaskSpec, sample) -> np.ndarray:
        """The sample's pneumonia boxes ``[G, 4]`` (x1, y1, x2, y2) in stored-image pixels."""
        return np.asarray(sample.boxes, dtype=np.float64).reshape(-1, 4)

    def truth(self, spec: TaskSpec, table, predictions):
        """``targets [N, 1]`` (has a box) and the ``gt_boxes``/``gt_offsets`` extras of the test images."""
        from ecamp_bench.evaluation.det_metrics import pack_boxes

        gt_boxes, gt_offsets = pack_boxes([self.boxes(spec, s) for s in table])
        return predictions.with_truth(self.targets(spec, table), gt_boxes=gt_boxes, gt_offsets=gt_offsets)

    def score(self, spec: TaskSpec, predictions, *, n_bootstrap: int, seed: int):
        """The four detection metrics with bootstrap 95% CIs."""
        from ecamp_bench.evaluation.det_metrics import detection_metrics, images_from_predictions

        return detection_metrics(images_from_predictions(predictions), n_bootstrap=n_bootstrap, seed=seed)


IMPLEMENTATION = RsnaDetection()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The RSNA pneumonia detection task."""
    return [
        TaskSpec(
            name="rsna-det",
            published_splits={"ecamp": "ECAMP/Detection/RSNA", "benchx": "BenchX/RSNA"},
            version=1,
            kind="detection",
            layout="rsna-pneumonia",
            labels=LABELS,
            metrics=METRICS,
            protocols=("frozen-det", "det"),
            implementation="ecamp_bench_plugins.tasks.rsna_det:IMPLEMENTATION",
            description="Pneumonia boxes (RSNA stage 2), mAP@[0.40:0.75]; MGCA/ECAMP frozen YOLOv3 lineage",
        )
    ]
