"""Subgroup metrics of classification tasks: the primary metric per sex and age band, and the largest gap.

A task declares where its samples carry demographics (``TaskSpec.demographics``: axis → ``Sample.meta`` key, e.g.
``{"sex": "sex", "age": "age"}``). The runner copies them, normalised, into the saved test predictions as the
extras ``demo_sex`` (``"F"``, ``"M"`` or ``""`` when unknown) and ``demo_age`` (years, NaN when unknown), so every
number below can be recomputed from a results folder alone.

Groups (fixed, so records of every task and data set line up):

- ``sex``: ``F`` and ``M`` (``F``/``Female``/``female`` and ``M``/``Male``/``male`` in the data; anything else is
  left out of both);
- ``age``: :data:`AGE_BANDS`, half-open year intervals ``[lo, hi)``: ``<40``, ``40-60``, ``60-80``, ``80+``.

Keys: ``<primary>[sex=F]``, ``<primary>[age=60-80]``, …, ``<primary>_gap[sex]``, ``<primary>_gap[age]`` and
``<primary>_gap_p[sex]``, ``<primary>_gap_p[age]``, where ``<primary>`` is the task's primary metric (``auc`` for
multi-label tasks, ``accuracy`` for single-label ones; other primary metrics get no subgroup keys).

Too small: a subgroup is scored only when *every* label (class, for a single-label task) has at least
:data:`MIN_POSITIVES` positive test images in it; otherwise its value is ``None`` and the record's
``dataset.subgroups`` lists it as too small. The rule keeps a subgroup's macro AUC the same quantity as the task's
(the mean over all labels), so subgroups and the whole test set are compared like with like.

Gap: the largest difference between the scored subgroups of an axis (``max - min``; ``None`` with fewer than two).
Its CI and p-value come from one bootstrap: each replicate resamples the test images of every subgroup within
that subgroup (sizes fixed) and scores all subgroups on that same replicate. CI: percentiles of the difference
between the two subgroups that are extreme on the full test set. p-value (two-sided, no gap): centred max-gap
statistic ``T* = max_g (v*_g - v_g) - min_g (v*_g - v_g)`` against the observed gap,
``p = (1 + #{T* >= gap}) / (1 + B)``, which accounts for picking the extreme pair among several bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ecamp_bench.evaluation.finite import require_finite
from ecamp_bench.evaluation.metrics import MetricValue, bootstrap_indices, percentile_ci, rank_auc

MIN_POSITIVES = 20
AXES = ("sex", "age")
SEX_GROUPS = ("F", "M")
AGE_BANDS: tuple[tuple[str, float | None, float | None], ...] = (
    ("<40", None, 40.0),
    ("40-60", 40.0, 60.0),
    ("60-80", 60.0, 80.0),
    ("80+", 80.0, None),
)
EXTRA = {"sex": "demo_sex", "age": "demo_age"}
SUBGROUP_PRIMARY = ("auc", "accuracy")
_SEX = {"f": "F", "female": "F", "m": "M", "male": "M"}


def normalise_sex(value) -> str:
    """``"F"``, ``"M"`` or ``""`` (unknown) from a data set's sex/gender cell (``F``/``Female``/``M``/``Male``...)."""
    return _SEX.get(str(value).strip().lower(), "") if value is not None else ""


def normalise_age(value) -> float:
    """Age in years from a cell such as ``58``, ``"58"``, ``"58.0"`` or DICOM's ``"058Y"``; NaN when unknown."""
    if value is None:
        return math.nan
    text = str(value).strip().upper().removesuffix("Y")
    try:
        age = float(text)
    except ValueError:
        return math.nan
    return age if math.isfinite(age) and 0 <= age < 150 else math.nan


def demographic_extras(demographics: Mapping[str, str], samples: Sequence) -> dict[str, np.ndarray]:
    """``{"demo_sex": str [N], "demo_age": float [N]}`` for the axes in ``demographics`` (axis → meta key)."""
    out = {}
    if "sex" in demographics:
        out[EXTRA["sex"]] = np.array([normalise_sex(s.meta.get(demographics["sex"])) for s in samples], dtype=str)
    if "age" in demographics:
        out[EXTRA["age"]] = np.array(
            [normalise_age(s.meta.get(demographics["age"])) for s in samples], dtype=np.float64
        )
    return out


def group_masks(extras: Mapping[str, np.ndarray], n: int) -> dict[str, dict[str, np.ndarray]]:
    """``axis → group → bool [N]`` for the axes present in ``extras`` (see the module docstring for the groups)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    if EXTRA["sex"] in extras:
        sex = np.asarray(extras[EXTRA["sex"]]).astype(str).reshape(n)
        out["sex"] = {g: sex == g for g in SEX_GROUPS}
    if EXTRA["age"] in extras:
        age = np.asarray(extras[EXTRA["age"]], dtype=np.float64).reshape(n)
        known = np.isfinite(age)
        out["age"] = {
            name: known & (age >= (-np.inf if lo is None else lo)) & (age < (np.inf if hi is None else hi))
            for name, lo, hi in AGE_BANDS
        }
    return out


def key(primary: str, axis: str, group: str) -> str:
    """``auc[sex=F]``."""
    return f"{primary}[{axis}={group}]"


def gap_key(primary: str, axis: str) -> str:
    """``auc_gap[sex]``."""
    return f"{primary}_gap[{axis}]"


def gap_p_key(primary: str, axis: str) -> str:
    """``auc_gap_p[sex]``: the bootstrap p-value of that gap."""
    return f"{primary}_gap_p[{axis}]"


def _metric_rows(primary: str, y: np.ndarray, s: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The metric on resamples: ``y``/``s`` ``[n, C]``, ``index`` ``[B, n]`` → ``[B]`` (NaN where undefined)."""
    if primary == "accuracy":
        correct = (s.argmax(axis=1) == y.argmax(axis=1)).astype(np.float64)  # [n]
        return correct[index].mean(axis=1)
    aucs = rank_auc(y[index].transpose(0, 2, 1), s[index].transpose(0, 2, 1))  # [B, C]
    return aucs.mean(axis=1)  # NaN when a label is degenerate in that resample


def group_value(primary: str, y: np.ndarray, s: np.ndarray) -> float | None:
    """The metric on one subgroup's rows (``None`` when undefined)."""
    if not len(y):
        return None
    value = float(_metric_rows(primary, y, s, np.arange(len(y))[None])[0])
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class GroupSummary:
    """One subgroup on the test set: its size, positives per label, and whether it is too small to score."""

    axis: str
    group: str
    n: int
    positives: dict[str, int]
    too_small: bool

    def to_record(self) -> dict:
        """The entry of ``dataset.subgroups.groups``."""
        return {
            "axis": self.axis,
            "group": self.group,
            "n": self.n,
            "positives": self.positives,
            "too_small": self.too_small,
        }


def summarise_groups(
    targets: np.ndarray, labels: Sequence[str], extras: Mapping[str, np.ndarray]
) -> list[GroupSummary]:
    """Every subgroup's size and positives; too small when any label has fewer than :data:`MIN_POSITIVES`."""
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    out = []
    for axis, groups in group_masks(extras, len(targets)).items():
        for group, mask in groups.items():
            positives = {label: int((targets[mask, c] > 0.5).sum()) for c, label in enumerate(labels)}
            out.append(
                GroupSummary(
                    axis, group, int(mask.sum()), positives, min(positives.values(), default=0) < MIN_POSITIVES
                )
            )
    return out


def subgroup_section(targets: np.ndarray, labels: Sequence[str], extras: Mapping[str, np.ndarray]) -> dict | None:
    """The record's ``dataset.subgroups`` (rule, bands and every group), ``None`` without demographics."""
    groups = summarise_groups(targets, labels, extras)
    if not groups:
        return None
    return {
        "min_positives": MIN_POSITIVES,
        "too_small_rule": "every label needs >= min_positives positive test images in the subgroup",
        "sex_groups": list(SEX_GROUPS),
        "age_bands": [{"name": name, "lo": lo, "hi": hi, "interval": "[lo, hi) years"} for name, lo, hi in AGE_BANDS],
        "gap_test": "bootstrap stratified by subgroup, centred max-gap statistic",
        "groups": [g.to_record() for g in groups],
    }


def subgroup_metrics(
    primary: str,
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    extras: Mapping[str, np.ndarray],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[MetricValue]:
    """Per-subgroup values with CIs, then per axis the gap (with CI) and its p-value (see the module docstring).

    ``targets``/``scores`` ``[N, C]``; ``extras`` holds ``demo_sex``/``demo_age`` ``[N]``. Empty when ``primary`` is not
    one of :data:`SUBGROUP_PRIMARY` or there are no demographics.
    """
    require_finite(np.asarray(scores, dtype=np.float64), f"{primary} per subgroup: scores")
    if primary not in SUBGROUP_PRIMARY:
        return []
    y = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    s = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    summaries = {(g.axis, g.group): g for g in summarise_groups(y, labels, extras)}
    out: list[MetricValue] = []
    for k, (axis, groups) in enumerate(group_masks(extras, len(y)).items()):
        values, replicates = {}, {}
        for j, (group, mask) in enumerate(groups.items()):
            rows = np.flatnonzero(mask)
            value, ci = None, None
            if not summaries[(axis, group)].too_small:
                value = group_value(primary, y[rows], s[rows])
                if value is not None and n_bootstrap > 0:
                    index = bootstrap_indices(len(rows), n_bootstrap, seed + 7919 * (k + 1) + j)  # [B, n_g]
                    replicates[group] = _metric_rows(primary, y[rows], s[rows], index)  # [B]
                    ci = percentile_ci(replicates[group])
                if value is not None:
                    values[group] = value
            out.append(MetricValue(key(primary, axis, group), value, True, ci, int(mask.sum())))
        out.extend(_gap(primary, axis, values, replicates, int(sum(m.sum() for m in groups.values()))))
    return out


def _gap(
    primary: str, axis: str, values: dict[str, float], replicates: dict[str, np.ndarray], n: int
) -> list[MetricValue]:
    """The gap of one axis and its p-value (``None`` values with fewer than two scored subgroups)."""
    if len(values) < 2:
        return [
            MetricValue(gap_key(primary, axis), None, False, None, n),
            MetricValue(gap_p_key(primary, axis), None, True, None, n),
        ]
    hi = max(values, key=values.get)
    lo = min(values, key=values.get)
    gap = values[hi] - values[lo]
    ci, p = None, None
    if len(replicates) == len(values):
        names = list(values)
        stacked = np.stack([replicates[g] for g in names])  # [G, B]
        observed = np.array([values[g] for g in names])[:, None]  # [G, 1]
        valid = np.isfinite(stacked).all(axis=0)
        centred = stacked[:, valid] - observed  # [G, B']
        statistic = centred.max(axis=0) - centred.min(axis=0)  # [B']
        if statistic.size:
            p = float((1 + np.sum(statistic >= gap - 1e-12)) / (1 + statistic.size))
        ci = percentile_ci(replicates[hi] - replicates[lo])
    return [
        MetricValue(gap_key(primary, axis), gap, False, ci, n),
        MetricValue(gap_p_key(primary, axis), p, True, None, n),
    ]


def subgroup_values(predictions) -> dict[str, float | None]:
    """Every subgroup key of saved predictions, without bootstrap: the ``value_fn`` of the subgroup metrics.

    The metric is the one the runner stored with the predictions (:func:`primary_of`).
    """
    primary = primary_of(predictions)
    metrics = subgroup_metrics(
        primary, predictions.targets, predictions.scores, predictions.label_names, predictions.extras, n_bootstrap=0
    )
    return {m.name: m.value for m in metrics}


def primary_of(predictions) -> str:
    """The subgroup metric stored with saved predictions (extra ``subgroup_metric``; ``auc`` when absent)."""
    stored = predictions.extras.get("subgroup_metric")
    return str(np.asarray(stored).reshape(-1)[0]) if stored is not None and np.asarray(stored).size else "auc"
