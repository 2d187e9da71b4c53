"""Shared implementation of the image classification tasks (CheXpert, RSNA): targets and AUC scoring.

Subclasses override :meth:`ClassificationTask.prepare` for their dataset's filters and label policies.
Scores are scikit-learn ROC AUCs: macro over the task's labels (primary metric ``auc``), per label
``auc/<label>`` when there are several, each with a seeded bootstrap 95% CI over test images.
"""

from __future__ import annotations

import numpy as np

from ecamp_bench.data.samples import SampleTable
from ecamp_bench.errors import DataError
from ecamp_bench.specs import MetricSpec, TaskSpec


def auc_metric_specs(labels: tuple[str, ...]) -> tuple[MetricSpec, ...]:
    """``auc`` (primary, macro) and, for multi-label tasks, ``auc/<label>``."""
    primary = MetricSpec(name="auc", higher_is_better=True, primary=True, description="ROC AUC, macro over labels",
                         paired_test="auc")
    if len(labels) == 1:
        return (primary,)
    per_label = (MetricSpec(name=f"auc/{label}", description=f"ROC AUC of {label}", paired_test="auc")
                 for label in labels)
    return (primary, *per_label)


class ClassificationTask:
    """Targets from ``Sample.labels``; AUC scoring. ``prepare`` keeps every sample with all labels defined."""

    def prepare(self, spec: TaskSpec, table: SampleTable):
        """Keep the samples whose task labels are all defined; no fixed test set."""
        from ecamp_bench.evaluation.context import PreparedTask

        return PreparedTask(table=self._defined(spec, table), fixed_test_ids=None, stratify=tuple(spec.labels))

    def targets(self, spec: TaskSpec, table: SampleTable) -> np.ndarray:
        """``[N, C]`` float targets (1 positive, 0 negative); NaN or other values are a DataError."""
        matrix = table.label_matrix(spec.labels)
        bad = ~np.isin(matrix, (0.0, 1.0))
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise DataError(
                f"task '{spec.name}' needs 0/1 labels, found {matrix[row, col]}",
                path=table[row].image_path,
                key=spec.labels[col],
            )
        return matrix.astype(np.float32)

    def score(self, spec: TaskSpec, predictions, *, n_bootstrap: int, seed: int):
        """Macro and per-label AUC with bootstrap 95% CIs."""
        from ecamp_bench.evaluation.metrics import auc_metrics

        return auc_metrics(predictions.targets, predictions.scores, spec.labels, n_bootstrap=n_bootstrap, seed=seed)

    @staticmethod
    def _defined(spec: TaskSpec, table: SampleTable) -> SampleTable:
        matrix = table.label_matrix(spec.labels)
        keep = {s.image_id for s, row in zip(table, matrix) if np.isin(row, (0.0, 1.0)).all()}
        return table.filter(lambda s: s.image_id in keep)
