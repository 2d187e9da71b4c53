"""The split of one run: train/val/test fixed by ``split.seed``, the label fraction drawn with the run seed.

The base split (patient-grouped, stratified, fixed test ids where the task has an official test set)
depends only on the data and ``split.seed``, so every seed and fraction is scored on the same test set.
The fraction priority order of the train patients is redrawn with the run seed, so seeds differ in
which 1%/10% of patients they train on (and the fractions stay nested for a given seed). The manifest
(with that order) is written to ``results/splits/<task>/<sha256[:16]>.json``; its sha256 is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ecamp_bench.config import config_sha256
from ecamp_bench.data.samples import SampleTable
from ecamp_bench.data.published_splits import PublishedSplit
from ecamp_bench.data.splits import Split, fraction_order, fraction_subset, make_split, write_manifest
from ecamp_bench.errors import DataError
from ecamp_bench.evaluation.context import PreparedTask
from ecamp_bench.evaluation.eval_config import SeededSplit
from ecamp_bench.paths import results_dir
from ecamp_bench.results.record import safe_dirname


@dataclass(frozen=True)
class SplitResult:
    """The train (fraction), val and test tables of a run, with the manifest's path and sha256.

    ``base_sha256`` identifies the seed-independent part (which images are train/val/test, split params
    without the fraction seed): every seed and fraction of one dataset and split config shares it, so the
    leaderboard groups runs by it (``sha256`` also covers the seed's fraction order).
    """

    train: SampleTable
    val: SampleTable
    test: SampleTable
    sha256: str
    manifest_path: Path
    base_sha256: str | None = None
    published: dict | None = None  # a published split's record entry (files + sha256, labels, overlaps); see below


def split_for_run(prepared: PreparedTask, impl, task, fraction: float, seed: int, cfg: SeededSplit) -> SplitResult:
    """Split ``prepared.table`` for a run of ``task`` at ``fraction`` with run seed ``seed``; ``cfg`` fixes the
    test/val shares and their seed."""
    table = prepared.table
    labels = table.label_matrix(prepared.stratify) if prepared.stratify else np.zeros((len(table), 0))
    split = make_split(
        table.ids, table.patients, labels,
        val_frac=float(cfg.val_frac), test_frac=float(cfg.test_frac), seed=int(cfg.seed),
        fixed_test_ids=prepared.fixed_test_ids, fixed_val_ids=prepared.fixed_val_ids, label_names=prepared.stratify,
    )
    base_sha256 = split.sha256
    train_rows = table.select(split.train)
    train_labels = train_rows.label_matrix(prepared.stratify) if prepared.stratify else np.zeros((len(train_rows), 0))
    order, min_groups = fraction_order(split.train_groups, train_labels, seed)
    split = replace(split, group_order=order, min_groups=min_groups,
                    params={**split.params, "fraction_seed": int(seed)})
    train_ids = fraction_subset(split, fraction)
    for name, ids in (("train", train_ids), ("val", split.val), ("test", split.test)):
        if not ids:
            raise DataError(
                f"task '{task.name}': the {name} split is empty ({len(table)} usable images; "
                f"fraction {fraction}, val_frac {cfg['val_frac']}, test_frac {cfg['test_frac']})",
                path=table.root,
            )
    manifest = results_dir() / "splits" / safe_dirname(task.name) / f"{split.sha256[:16]}.json"
    sha = split.sha256 if manifest.is_file() else write_manifest(split, manifest)
    return SplitResult(table.select(train_ids), table.select(split.val), table.select(split.test), sha, manifest,
                       base_sha256)


def split_from_published(prepared: PreparedTask, task, published: PublishedSplit, fraction: float,
                         seed: int) -> SplitResult:
    """The split of a run from a published split (:mod:`ecamp_bench.data.published_splits`).

    ``prepared`` is the task's view of the layout table *with* the split's extra samples and list labels
    (:func:`~ecamp_bench.data.published_splits.apply_to_table` before ``prepare``). Listed images the task
    does not use (e.g. lateral views of a frontal-only task) are left out and counted. The train list of the
    fraction is used as it is; without one, the fraction is drawn from the full train list with the run seed
    (nested, stratified, by patient). The manifest's params name the list files and their sha256, so the
    manifest sha256 (and with it the run key) changes when a list changes.
    """
    table = prepared.table
    available = set(table.ids)
    kept = {part: [i for i in published.part(part) if i in available] for part in ("train", "val", "test")}
    excluded = {part: len(published.part(part)) - len(ids) for part, ids in kept.items()}
    for part, ids in kept.items():
        if not ids:
            raise DataError(f"task '{task.name}': none of the {len(published.part(part))} images of the "
                            f"{published.name} {part} list is usable by the task", path=published.folder)
    patient = dict(zip(table.ids, table.patients))
    train_groups = tuple(patient[i] for i in kept["train"])
    if published.fraction_list is not None:
        order, min_groups, explicit = tuple(dict.fromkeys(train_groups)), 1, {float(fraction): tuple(kept["train"])}
    else:
        labels = table.select(kept["train"]).label_matrix(prepared.stratify) if prepared.stratify \
            else np.zeros((len(kept["train"]), 0))
        (order, min_groups), explicit = fraction_order(train_groups, labels, seed), {}
    record = {**published.to_record(), "excluded_by_task": excluded}
    # the seed- and fraction-independent identity: which published val/test lists, and their content
    base = config_sha256({"published": published.name, "excluded_by_task": {k: excluded[k] for k in ("val", "test")},
                          "files": {f.role: f.sha256 for f in published.files if f.part != "train"}})
    params = {"method": "published", "name": published.name,
              "files": {f.role: {"file": f.path.name, "sha256": f.sha256} for f in published.files},
              "fraction_seed": int(seed), "overlaps": dict(published.overlaps), "val_is_test": published.val_is_test,
              "excluded_by_task": excluded, "group_key": "patient"}
    split = Split(train=tuple(kept["train"]), val=tuple(kept["val"]), test=tuple(kept["test"]),
                  train_groups=train_groups, group_order=order, min_groups=min_groups, explicit_fractions=explicit,
                  params=params)
    train_ids = fraction_subset(split, fraction)
    manifest = results_dir() / "splits" / safe_dirname(task.name) / f"{split.sha256[:16]}.json"
    sha = split.sha256 if manifest.is_file() else write_manifest(split, manifest)
    return SplitResult(table.select(train_ids), table.select(kept["val"]), table.select(kept["test"]), sha, manifest,
                       base_sha256=base, published=record)
