"""External validation: train on one data set, test on another, for the findings both label.

Tasks (all multi-label, macro ROC AUC over the shared findings, the same protocols as any classification task):

- ``chexpert-to-nih-cls``: train/val from CheXpert ``train`` (frontal), test = ChestX-ray14's official test list;
- ``nih-to-chexpert-cls``: train/val from ChestX-ray14 ``train_val_list.txt``, test = CheXpert ``valid`` (frontal);
- ``mimic-to-chexpert-cls``, ``mimic-to-nih-cls``: train/val from MIMIC-CXR-JPG (PA/AP, splits ``train`` and
  ``validate``) with its CheXpert-labeler labels (``mimic-cxr-2.0.0-chexpert.csv.gz``; without it the task stops
  with an error naming the file), test as above.

The shared findings and each data set's name for them (:data:`NAMES`): Atelectasis, Cardiomegaly, Consolidation,
Edema, Effusion (CheXpert and MIMIC: ``Pleural Effusion``), Pneumonia, Pneumothorax. CheXpert-style labels
(CheXpert, MIMIC) map blanks to 0 and uncertain (-1) labels by :data:`UNCERTAIN`: U-Ones for Atelectasis, Edema
and Effusion, U-Zeros for the others (Irvin et al. 2019's published choice for the five competition findings,
U-Zeros for Pneumonia and Pneumothorax).

Each pair of data sets is read through a composite layout (``chexpert-and-nih-cxr14``, ``mimic-cxr-and-chexpert``,
``mimic-cxr-and-nih-cxr14``) that finds both official trees under one data root (each in its usual sub-folder, as
the synthetic default holds them) and prefixes every image and patient id with its data set's layout name. The
test set is fixed (the target's official test images); val is drawn by patient from the source only.
Demographics (sex, age) come from the target data set, so every record also holds the subgroup metrics.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from ecamp_bench.api import TaskSpec, hookimpl
from ecamp_bench.specs import LayoutSpec
from ecamp_bench_plugins.tasks.classification import ClassificationTask, auc_metric_specs

LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Pneumonia", "Pneumothorax")
# shared finding -> that data set's label name
NAMES: dict[str, dict[str, str]] = {
    "chexpert": {**{x: x for x in LABELS}, "Effusion": "Pleural Effusion"},
    "mimic-cxr": {**{x: x for x in LABELS}, "Effusion": "Pleural Effusion"},
    "nih-cxr14": {x: x for x in LABELS},
}
UNCERTAIN = {
    "Atelectasis": 1.0,
    "Edema": 1.0,
    "Effusion": 1.0,
    "Cardiomegaly": 0.0,
    "Consolidation": 0.0,
    "Pneumonia": 0.0,
    "Pneumothorax": 0.0,
}
CHEXPERT_STYLE = ("chexpert", "mimic-cxr")  # labels with -1 = uncertain and blanks
TEST_SPLIT = {"chexpert": "valid", "nih-cxr14": "test", "mimic-cxr": "test"}
FRONTAL = {"chexpert": ("Frontal",), "mimic-cxr": ("PA", "AP")}  # view values kept; NIH is all frontal
PAIRS = (("chexpert", "nih-cxr14"), ("mimic-cxr", "chexpert"), ("mimic-cxr", "nih-cxr14"))
TASKS = (
    ("chexpert-to-nih-cls", "chexpert", "nih-cxr14"),
    ("nih-to-chexpert-cls", "nih-cxr14", "chexpert"),
    ("mimic-to-chexpert-cls", "mimic-cxr", "chexpert"),
    ("mimic-to-nih-cls", "mimic-cxr", "nih-cxr14"),
)


def _module(name: str) -> ModuleType:
    from ecamp_bench_plugins.layouts import chexpert, mimic_cxr, nih_cxr14

    return {"chexpert": chexpert, "nih-cxr14": nih_cxr14, "mimic-cxr": mimic_cxr}[name]


def member_root(name: str, root: Path) -> Path | None:
    """Where data set ``name`` lives under ``root``: its usual sub-folder, or ``root`` itself; ``None`` if absent."""
    module = _module(name)
    for candidate in (Path(root) / module.SUBDIR, Path(root)):
        if module.detect(candidate):
            return candidate
    return None


def pair_name(members: tuple[str, str]) -> str:
    """``chexpert-and-nih-cxr14``."""
    return "-and-".join(members)


def pair_layout(members: tuple[str, str]) -> LayoutSpec:
    """The composite layout that reads both data sets of ``members`` under one root."""
    from ecamp_bench.data.samples import SampleTable
    from ecamp_bench.errors import DataError
    from ecamp_bench.specs import Problem

    name = pair_name(members)

    def detect(root: Path) -> bool:
        return all(member_root(m, root) is not None for m in members)

    def roots(root: Path) -> dict[str, Path]:
        found = {m: member_root(m, root) for m in members}
        missing = [m for m, r in found.items() if r is None]
        if missing:
            raise DataError(
                f"layout '{name}' needs {' and '.join(members)} under one folder; not found: "
                + ", ".join(f"{m} (tried {Path(root) / _module(m).SUBDIR})" for m in missing),
                path=root,
            )
        return found  # type: ignore[return-value]

    def read(root: Path) -> SampleTable:
        samples = []
        for member, member_dir in roots(root).items():
            for s in _module(member).read(member_dir):
                samples.append(
                    replace(
                        s,
                        image_id=f"{member}:{s.image_id}",
                        patient_id=f"{member}:{s.patient_id}",
                        meta={**s.meta, "source": member},
                    )
                )
        return SampleTable(name, Path(root), tuple(samples))

    def validate(root: Path, options=None) -> list[Problem]:
        try:
            found = roots(root)
        except DataError as exc:
            return [Problem(path=str(root), message=str(exc), code="missing-folder")]
        return [p for m, r in found.items() for p in _module(m).validate(r, options)]

    def write_synthetic(root: Path, n: int, seed: int, **options) -> None:
        from ecamp_bench.plugins import get_catalog

        for member in members:
            spec = get_catalog().layout(member)
            spec.write_synthetic(Path(root) / spec.subdir, n, seed, **options)

    return LayoutSpec(
        name=name,
        description=f"{members[0]} and {members[1]} under one folder (external validation)",
        citation="see the two member layouts",
        detect=detect,
        read=read,
        validate=validate,
        write_synthetic=write_synthetic,
    )


def shared_labels(source: str, labels: dict[str, float]) -> dict[str, float]:
    """A sample's labels under the shared names (uncertain and blank CheXpert-style labels mapped)."""
    out = {}
    for shared, own in NAMES[source].items():
        value = labels.get(own, math.nan)
        if source in CHEXPERT_STYLE:
            value = 0.0 if math.isnan(value) else (UNCERTAIN[shared] if value == -1.0 else value)
        out[shared] = value
    return out


class ExternalClassification(ClassificationTask):
    """Source images (not the source's official test split) for train/val; the target's official test set."""

    def prepare(self, spec: TaskSpec, table):
        """Relabel to the shared findings; keep source non-test and target test images; fix the test ids."""
        from ecamp_bench.errors import DataError
        from ecamp_bench.evaluation.context import PreparedTask

        source, target = spec.options["source"], spec.options["target"]

        def keep(s) -> bool:
            origin = s.meta.get("source")
            if origin in FRONTAL and s.view not in FRONTAL[origin]:
                return False
            return (origin == source and s.split != TEST_SPLIT[source]) or (
                origin == target and s.split == TEST_SPLIT[target]
            )

        chosen = table.filter(keep)
        if source == "mimic-cxr" and not any(s.labels for s in chosen if s.meta.get("source") == source):
            raise DataError(
                "MIMIC-CXR has no labels here: the external tasks need mimic-cxr-2.0.0-chexpert.csv.gz", path=table.root
            )
        chosen = chosen.map(lambda s: s.with_labels(shared_labels(s.meta["source"], s.labels)))
        chosen = self._defined(spec, chosen)
        test_ids = tuple(s.image_id for s in chosen if s.meta.get("source") == target)
        if not test_ids:
            raise DataError(
                f"task '{spec.name}': no {target} test images ({TEST_SPLIT[target]} split)", path=table.root
            )
        return PreparedTask(table=chosen, fixed_test_ids=test_ids, stratify=tuple(spec.labels))


IMPLEMENTATION = ExternalClassification()


@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """The composite layouts of the data-set pairs."""
    return [pair_layout(pair) for pair in PAIRS]


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """The external-validation tasks."""
    layout_of = {frozenset(pair): pair_name(pair) for pair in PAIRS}
    return [
        TaskSpec(
            name=name,
            version=1,
            kind="classification",
            layout=layout_of[frozenset((source, target))],
            labels=LABELS,
            metrics=auc_metric_specs(LABELS),
            protocols=("linear", "finetune", "knn"),
            implementation="ecamp_bench_plugins.tasks.external_cls:IMPLEMENTATION",
            options={"source": source, "target": target},
            demographics={"sex": "sex", "age": "age"},
            description=f"external validation: train on {source}, test on {target}'s official test set; "
            "7 shared findings, macro ROC AUC",
        )
        for name, source, target in TASKS
    ]
