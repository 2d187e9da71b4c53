"""Task ``rsna-cls``: pneumonia yes/no on RSNA Pneumonia Detection stage 2 images, ROC AUC."""

from __future__ import annotations

from ecamp_bench.api import TaskSpec, hookimpl
from ecamp_bench_plugins.tasks.classification import ClassificationTask, auc_metric_specs

LABELS = ("Pneumonia",)


class RsnaClassification(ClassificationTask):
    """All RSNA images with a Pneumonia label; test/val drawn by the patient-grouped stratified split."""


IMPLEMENTATION = RsnaClassification()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The RSNA pneumonia classification task."""
    return [
        TaskSpec(
            name="rsna-cls",
            published_splits={
                "mrm": "MRM/RSNA_Pneumonia",
                "ecamp": "ECAMP/Classification/RSNA",
                "benchx": "BenchX/RSNA",
            },
            version=1,
            kind="classification",
            layout="rsna-pneumonia",
            labels=LABELS,
            metrics=auc_metric_specs(LABELS),
            protocols=("linear", "finetune", "knn"),
            implementation="ecamp_bench_plugins.tasks.rsna_cls:IMPLEMENTATION",
            description="Pneumonia yes/no (RSNA stage 2), ROC AUC; MGCA linear / MRM fine-tuning lineage",
        )
    ]
