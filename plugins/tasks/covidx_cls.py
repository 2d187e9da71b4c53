"""Task ``covidx-cls``: COVIDx CXR single-label classification, top-1 accuracy (primary) and macro AUC.

Three classes (``normal``, ``pneumonia``, ``COVID-19``) as in the MGCA and ECAMP papers (ECAMP: COVIDx v7,
MGCA: the 9A lists); on a binary release (``negative``/``positive``: v6B…, CXR-2, CXR-3B, CXR-4) the task takes
that release's two classes. Softmax + cross-entropy (the spec's ``label_type="single-label"``); ``finetune``
selects on val accuracy, ``linear`` on val loss as MGCA. The official ``test`` list is the test set; the
official ``val`` list (CXR-4) is the val set when the release has one, otherwise val is drawn by patient from
the train list (MGCA and ECAMP split their val off the official train list too). Scored by
:func:`ecamp_bench.evaluation.metrics.single_label_metrics`.
"""

from __future__ import annotations

import numpy as np

from ecamp_bench.api import MetricSpec, TaskSpec, hookimpl
from ecamp_bench.errors import DataError

CLASSES = ("normal", "pneumonia", "COVID-19")
METRICS = (
    MetricSpec(name="accuracy", primary=True, description="top-1 accuracy over the classes (MGCA/ECAMP COVIDx)",
               paired_test="bootstrap", value_fn="ecamp_bench.evaluation.metrics:single_label_values"),
    MetricSpec(name="auc", description="macro one-vs-rest ROC AUC over the classes", paired_test="auc"),
)


class CovidxClassification:
    """Release classes, official test (and val) lists, one-hot targets, accuracy + AUC."""

    def prepare(self, spec: TaskSpec, table):
        """Every listed image; ``labels`` = the release's classes; official test/val lists fixed."""
        from ecamp_bench.evaluation.context import PreparedTask

        releases = {tuple(s.meta.get("classes", ())) for s in table}
        if len(releases) != 1:
            raise DataError(f"task '{spec.name}': expected one COVIDx release, found class sets {sorted(releases)}",
                            path=table.root)
        classes = releases.pop()
        test_ids = tuple(s.image_id for s in table if s.split == "test")
        val_ids = tuple(s.image_id for s in table if s.split == "val")
        return PreparedTask(table=table, fixed_test_ids=test_ids or None, fixed_val_ids=val_ids or None,
                            stratify=classes, labels=classes)

    def targets(self, spec: TaskSpec, table) -> np.ndarray:
        """``[N, C]`` one-hot over ``spec.labels``; a row that is not one-hot is a DataError."""
        matrix = table.label_matrix(spec.labels)
        bad = ~(np.isin(matrix, (0.0, 1.0)).all(axis=1) & (matrix.sum(axis=1) == 1))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"task '{spec.name}' needs exactly one of {list(spec.labels)} per image, "
                            f"found {table[row].labels}", path=table[row].image_path)
        return matrix.astype(np.float32)

    def score(self, spec: TaskSpec, predictions, *, n_bootstrap: int, seed: int):
        """Accuracy (primary) and macro one-vs-rest AUC, with bootstrap CIs."""
        from ecamp_bench.evaluation.metrics import single_label_metrics

        return single_label_metrics(predictions.targets, predictions.scores, spec.labels, n_bootstrap=n_bootstrap,
                                    seed=seed)


IMPLEMENTATION = CovidxClassification()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The COVIDx CXR classification task."""
    return [
        TaskSpec(
            name="covidx-cls",
            published_splits={"ecamp": "ECAMP/Classification/COVIDx"},
            version=1,
            kind="classification",
            layout="covidx-cxr",
            labels=CLASSES,
            metrics=METRICS,
            protocols=("linear", "finetune", "knn"),
            implementation="ecamp_bench_plugins.tasks.covidx_cls:IMPLEMENTATION",
            label_type="single-label",
            description="normal / pneumonia / COVID-19 (COVIDx CXR; the release's classes), accuracy; "
                        "test = official test list; MGCA/ECAMP lineage",
        )
    ]
