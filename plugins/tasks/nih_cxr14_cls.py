"""Task ``nih-cxr14-cls``: the 14 NIH ChestX-ray14 findings, macro ROC AUC (per-finding AUC recorded too).

Every image of the Data_Entry file with its 14 text-mined labels (``No Finding`` = all negative). The official
patient-wise ``test_list.txt`` is the test set; val is drawn by patient from ``train_val_list.txt`` (the runner's
``split.val_frac``) and the label fractions are nested subsets of the remaining train patients. Protocols:
``linear`` (MGCA recipe) and ``finetune``; MRM's ChestX-ray14 recipe per fraction
(``MRM-pytorch/NIH_ChestX-ray/finetuning_{1,10,100}percent.sh``) is the ``mrm`` recipe (``--recipe mrm``).
MRM's published lists (``train_1.txt``, ``train_10.txt``, ``train_list.txt``, ``val_list.txt``, ``test_list.txt``:
image name then the 14 labels) name images by their ``Image Index`` and import as they are.
"""

from __future__ import annotations

from ecamp_bench.api import TaskSpec, hookimpl
from ecamp_bench_plugins.tasks.classification import ClassificationTask, auc_metric_specs

LABELS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
          "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia")
OFFICIAL_TEST_SPLIT = "test"


class NihClassification(ClassificationTask):
    """All images; ``fixed_test_ids`` = the official test list."""

    def prepare(self, spec: TaskSpec, table):
        """Images with all 14 labels defined; the official test list as the fixed test set."""
        from ecamp_bench.evaluation.context import PreparedTask

        table = self._defined(spec, table)
        test_ids = tuple(s.image_id for s in table if s.split == OFFICIAL_TEST_SPLIT)
        return PreparedTask(table=table, fixed_test_ids=test_ids or None, stratify=tuple(spec.labels))


IMPLEMENTATION = NihClassification()


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The NIH ChestX-ray14 14-label classification task."""
    return [
        TaskSpec(
            name="nih-cxr14-cls",
            version=1,
            kind="classification",
            layout="nih-cxr14",
            labels=LABELS,
            metrics=auc_metric_specs(LABELS),
            protocols=("linear", "finetune"),
            implementation="ecamp_bench_plugins.tasks.nih_cxr14_cls:IMPLEMENTATION",
            description="14 findings (NIH ChestX-ray14), macro ROC AUC; test = official test list; MRM/ECAMP lineage",
        )
    ]
