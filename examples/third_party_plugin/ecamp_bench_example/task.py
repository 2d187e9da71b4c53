"""The ``example-rsna-ap`` task implementation: which samples, which targets, how to score."""

from __future__ import annotations

import numpy as np

from ecamp_bench.api import MetricValue, PreparedTask, bootstrap_indices


class RsnaAveragePrecision:
    """Every RSNA image with a 0/1 Pneumonia label; average precision with a bootstrap 95% CI."""

    def prepare(self, spec, table):
        """Keep the labelled samples; the runner draws a patient-grouped stratified test split."""
        keep = {s.image_id for s, row in zip(table, table.label_matrix(spec.labels)) if np.isin(row, (0.0, 1.0)).all()}
        return PreparedTask(table=table.filter(lambda s: s.image_id in keep), stratify=tuple(spec.labels))

    def targets(self, spec, table):
        """``[N, 1]`` float targets."""
        return table.label_matrix(spec.labels).astype(np.float32)

    def score(self, spec, predictions, *, n_bootstrap, seed):
        """Average precision of the single label (``None`` when the test set has no positive)."""
        from sklearn.metrics import average_precision_score

        y, s = predictions.targets[:, 0], predictions.scores[:, 0]
        if y.sum() == 0:
            return [MetricValue(name="ap", value=None, n=len(y))]
        draws = [idx for idx in bootstrap_indices(len(y), n_bootstrap, seed) if y[idx].sum() > 0]
        boot = [average_precision_score(y[idx], s[idx]) for idx in draws]
        ci = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if boot else None
        return [MetricValue(name="ap", value=float(average_precision_score(y, s)), ci95=ci, n=len(y))]


IMPLEMENTATION = RsnaAveragePrecision()
