"""Task ``chexpert-cls``: the 5 CheXpert competition labels, macro ROC AUC (per-label AUC recorded too).

Frontal images only; uncertain labels (-1) mapped by the task option ``uncertainty_policy``:
``published`` (default; Irvin et al. 2019: U-Ones for Atelectasis, Edema, Pleural Effusion, U-Zeros for
Cardiomegaly, Consolidation), one of ``ones``/``zeros``/``ignore`` for all five labels, or a mapping label →
choice (``--set task.options.uncertainty_policy=zeros``); see
``ecamp_bench_plugins.layouts.chexpert.apply_uncertainty_policy``. Unmentioned labels are negative; with ``ignore``
an image with an uncertain label is left out. The test set is the official ``valid`` split (frontal); val and train
are drawn from the official ``train`` split, grouped by patient.
"""

from __future__ import annotations

from ecamp_bench.api import TaskSpec, hookimpl
from ecamp_bench_plugins.tasks.classification import ClassificationTask, auc_metric_specs

LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
OFFICIAL_TEST_SPLIT = "valid"


class ChexpertClassification(ClassificationTask):
    """Frontal filter, uncertainty policy, and the official valid split as the fixed test set."""

    def prepare(self, spec: TaskSpec, table):
        """Frontal images with policy-mapped labels; ``fixed_test_ids`` = the official valid split."""
        from ecamp_bench_plugins.layouts.chexpert import apply_uncertainty_policy, frontal_only
        from ecamp_bench.evaluation.context import PreparedTask

        table = apply_uncertainty_policy(frontal_only(table), policy_mapping(spec))
        table = self._defined(spec, table)
        test_ids = tuple(s.image_id for s in table if s.split == OFFICIAL_TEST_SPLIT)
        return PreparedTask(table=table, fixed_test_ids=test_ids or None, stratify=tuple(spec.labels))


def policy_mapping(spec: TaskSpec) -> dict[str, str] | None:
    """The ``uncertainty_policy`` option as ``apply_uncertainty_policy`` wants it (``None`` = published default)."""
    option = spec.options.get("uncertainty_policy", "published")
    if option == "published":
        return None
    if isinstance(option, str):
        return {label: option for label in spec.labels}
    return dict(option)


IMPLEMENTATION = ChexpertClassification()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The CheXpert 5-label classification task."""
    return [
        TaskSpec(
            name="chexpert-cls",
            published_splits={"mrm": "MRM/CheXpert", "ecamp": "ECAMP/Classification/CheXpert"},
            version=1,
            kind="classification",
            layout="chexpert",
            labels=LABELS,
            metrics=auc_metric_specs(LABELS),
            protocols=("linear", "finetune", "knn"),
            implementation="ecamp_bench_plugins.tasks.chexpert_cls:IMPLEMENTATION",
            demographics={"sex": "sex", "age": "age"},
            options={"uncertainty_policy": "published"},
            description="5 competition labels, macro ROC AUC; test = official valid set (frontal)",
        )
    ]
