"""What every classification record gets on top of its task's own metrics: calibration and subgroup metrics.

This is part of the task/metric contract, so a third-party classification task gets it without code of its own:

- ``ece``, ``brier`` (macro) and ``ece/<label>``, ``brier/<label>`` (:mod:`ecamp_bench.evaluation.calibration`),
  and a reliability diagram ``<run_key>.reliability.png`` next to the record;
- when the task declares ``TaskSpec.demographics`` (axis → ``Sample.meta`` key), the primary metric per subgroup,
  the gap per axis and its p-value (:mod:`ecamp_bench.evaluation.subgroups`), and ``dataset.subgroups`` in the
  record (sizes, positives, which groups are too small, the age bands).

The runner calls :func:`with_demographics` after the task attached its truth, :func:`extra_metrics` after the task
scored, and :func:`extra_metric_spec` to give each new metric its paired test (a paired bootstrap of the
metric's ``value_fn``, so ``compare`` and the leaderboard test them like any metric).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ecamp_bench.evaluation import subgroups
from ecamp_bench.specs import MetricSpec, TaskSpec

CALIBRATION_FN = "ecamp_bench.evaluation.calibration:calibration_values"
SUBGROUP_FN = "ecamp_bench.evaluation.subgroups:subgroup_values"
_SUBGROUP = re.compile(r"^[a-z0-9_]+\[(sex|age)=[^\]]+\]$")
_GAP = re.compile(r"^[a-z0-9_]+_gap\[(sex|age)\]$")
_GAP_P = re.compile(r"^[a-z0-9_]+_gap_p\[(sex|age)\]$")


def applies(task: TaskSpec) -> bool:
    """Whether ``task`` gets these metrics (classification tasks)."""
    return task.kind == "classification"


def subgroup_metric(task: TaskSpec) -> str:
    """The metric scored per subgroup: the task's primary metric."""
    return task.primary_metric.name


def with_demographics(task: TaskSpec, test_table, predictions):
    """``predictions`` with ``demo_sex``/``demo_age`` (and the subgroup metric's name) as extras, when declared."""
    if not applies(task) or not task.demographics:
        return predictions
    extras = subgroups.demographic_extras(task.demographics, list(test_table))
    extras["subgroup_metric"] = np.array([subgroup_metric(task)], dtype=str)
    return predictions.with_truth(predictions.targets, **extras)


def extra_metrics(task: TaskSpec, predictions, *, n_bootstrap: int, seed: int) -> list:
    """Calibration metrics, then subgroup metrics (when the predictions carry demographics)."""
    from ecamp_bench.evaluation.calibration import calibration_metrics

    if not applies(task):
        return []
    labels = predictions.label_names or tuple(task.labels)
    out = calibration_metrics(predictions.targets, predictions.scores, labels, n_bootstrap=n_bootstrap, seed=seed)
    out += subgroups.subgroup_metrics(
        subgroup_metric(task),
        predictions.targets,
        predictions.scores,
        labels,
        predictions.extras,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    return out


def subgroup_section(task: TaskSpec, predictions) -> dict | None:
    """The record's ``dataset.subgroups`` (``None`` without demographics)."""
    if not applies(task) or not task.demographics:
        return None
    labels = predictions.label_names or tuple(task.labels)
    section = subgroups.subgroup_section(predictions.targets, labels, predictions.extras)
    if section is not None:
        section["columns"] = dict(task.demographics)
        section["metric"] = subgroup_metric(task)
    return section


def extra_metric_spec(name: str) -> MetricSpec | None:
    """The :class:`MetricSpec` of a metric added here (``None`` for any other name)."""
    base = name.split("/", 1)[0]
    if base in ("ece", "brier"):
        return MetricSpec(name=name, higher_is_better=False, paired_test="bootstrap", value_fn=CALIBRATION_FN)
    if _GAP_P.match(name):
        return MetricSpec(name=name, description="bootstrap p-value of the subgroup gap (no paired test)")
    if _GAP.match(name):
        return MetricSpec(name=name, higher_is_better=False, paired_test="bootstrap", value_fn=SUBGROUP_FN)
    if _SUBGROUP.match(name):
        return MetricSpec(name=name, paired_test="bootstrap", value_fn=SUBGROUP_FN)
    return None


def reliability_path(record_file: Path) -> Path:
    """Where a run's reliability diagram goes: ``<run_key>.reliability.png`` next to its record."""
    return Path(record_file).with_suffix(".reliability.png")


def write_reliability(task: TaskSpec, predictions, record_file: Path, title: str) -> Path | None:
    """Draw the run's reliability diagram next to its record (classification only); its path."""
    from ecamp_bench.evaluation.calibration import write_reliability_diagram

    if not applies(task):
        return None
    return write_reliability_diagram(predictions, reliability_path(record_file), title=title)
