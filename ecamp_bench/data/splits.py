"""Train/val/test splits grouped by patient, nested label fractions, and split manifests with a sha256.

A split is made once per dataset and seed, and written as a manifest (JSON) whose sha256 enters every
result record. The rules:

- **Grouped.** All images of a group (a patient; for SIIM an image) land in the same split.
- **Stratified.** Each group gets a stratum, the rarest class it is positive for (``none`` without
  positives). Groups are put in an *interleaved* order: inside each stratum a seeded shuffle, and the
  strata are spread evenly along the order, so every prefix and every contiguous chunk of it has about
  the pool's mix. Test, val and train are consecutive chunks of that order.
- **Nested fractions.** The train groups get one priority order (interleaved the same way, led by one
  positive group per class). A fraction ``f`` is the first ``max(round(f * G), min_groups)`` groups of
  that order, so 1% ⊂ 10% ⊂ 100% for any fractions, and every class with a positive in train has one
  in every fraction. Fractions count groups (patients), not images.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ecamp_bench.config import config_sha256
from ecamp_bench.errors import ConfigError, DataError

STANDARD_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 1.0)
MANIFEST_SCHEMA = 1
NO_POSITIVE = "none"


@dataclass(frozen=True)
class Split:
    """Image ids of train, val and test, plus what it takes to draw nested label fractions of train.

    ``train_groups`` is the group of each train id (same order as ``train``); ``group_order`` lists the
    train groups in fraction priority order; ``min_groups`` is the smallest fraction size in groups (enough
    for one positive per class); ``explicit_fractions`` are imported train subsets used as they are.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    train_groups: tuple[str, ...]
    group_order: tuple[str, ...]
    min_groups: int = 1
    explicit_fractions: Mapping[float, tuple[str, ...]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """``{"train": n, "val": n, "test": n}`` in images."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def content(self) -> dict[str, Any]:
        """The hashed content of the manifest (everything but provenance)."""
        return {
            "schema_version": MANIFEST_SCHEMA,
            "params": dict(self.params),
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
            "train_groups": list(self.train_groups),
            "group_order": list(self.group_order),
            "min_groups": self.min_groups,
            "explicit_fractions": {_fraction_key(f): list(ids) for f, ids in sorted(self.explicit_fractions.items())},
            "fractions": {_fraction_key(f): fraction_subset(self, f) for f in STANDARD_FRACTIONS if f < 1.0},
        }

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the canonical JSON of :meth:`content` (what result records carry)."""
        return config_sha256(self.content())


def _fraction_key(fraction: float) -> str:
    return repr(float(fraction))


def parse_fraction(text: str | float) -> float:
    """A label fraction in (0, 1] from ``0.01``, ``"0.01"``, ``"1%"``, ``"10%"`` or ``"1"`` (= 100%).

    Anything else raises :class:`ConfigError` listing the accepted forms.
    """
    forms = "a number in (0, 1] such as 0.01 or 0.1 (1 means 100%), or a percentage in (0%, 100%] such as 1% or 10%"
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"invalid label fraction {text!r}: expected {forms}") from None
    if isinstance(text, bool) or not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise ConfigError(f"invalid label fraction {text!r}: expected {forms}")
    return value


def _group_strata(positive: np.ndarray) -> np.ndarray:
    """Stratum per group: index of the rarest class it is positive for, ``C`` when it has none. [G]"""
    n_groups, n_classes = positive.shape
    if n_classes == 0:
        return np.zeros(n_groups, dtype=np.int64)
    rarest_first = np.argsort(positive.sum(axis=0), kind="stable")  # [C] class indices, rarest first
    ordered = positive[:, rarest_first]  # [G, C]
    return np.where(ordered.any(axis=1), rarest_first[ordered.argmax(axis=1)], n_classes)


def _interleaved_order(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of the groups in an order where every stratum is spread evenly along it. [G]"""
    n = len(strata)
    shuffle, jitter = rng.random(n), rng.random(n)
    by_stratum = np.lexsort((shuffle, strata))  # grouped by stratum, random inside
    sorted_strata = strata[by_stratum]
    rank = np.arange(n) - np.searchsorted(sorted_strata, sorted_strata, side="left")
    size = np.bincount(strata)[sorted_strata]
    position = np.empty(n)
    position[by_stratum] = (rank + jitter[by_stratum]) / size
    return np.lexsort((shuffle, position))


def _champions_first(order: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, int]:
    """Move to the front, for each class rarest first, the earliest group positive for it.

    Returns the new order and how many groups were moved (the minimum fraction size).
    """
    covered = np.zeros(positive.shape[1], dtype=bool)
    champions: list[int] = []
    for cls in np.argsort(positive.sum(axis=0), kind="stable"):
        if covered[cls] or not positive[:, cls].any():
            continue
        first = next(g for g in order if positive[g, cls])
        champions.append(int(first))
        covered |= positive[first]
    moved = set(champions)
    rest = [int(g) for g in order if int(g) not in moved]
    return np.array(champions + rest, dtype=np.int64), max(len(champions), 1)


def _positive_by_group(inverse: np.ndarray, n_groups: int, labels: np.ndarray) -> np.ndarray:
    """``[G, C]`` bool: the group has an image positive (== 1) for the class."""
    positive = np.zeros((n_groups, labels.shape[1]), dtype=bool)
    np.logical_or.at(positive, inverse, labels == 1.0)
    return positive


def _ensure_positives(chunks: dict[str, list[int]], positive: np.ndarray, needs: Sequence[str]) -> None:
    """Move positive groups from train into the ``needs`` chunks that lack a class train has >= 2 of."""
    for name in needs:
        for cls in range(positive.shape[1]):
            train_pos = [g for g in chunks["train"] if positive[g, cls]]
            if len(train_pos) < 2 or any(positive[g, cls] for g in chunks[name]):
                continue
            moved = train_pos[-1]
            chunks["train"].remove(moved)
            chunks[name].append(moved)


def fraction_order(
    groups: Sequence[str], labels: np.ndarray, seed: int
) -> tuple[tuple[str, ...], int]:
    """The fraction priority order of the distinct ``groups`` (one per image) and the minimum fraction size."""
    unique, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    positive = _positive_by_group(inverse, len(unique), np.asarray(labels, dtype=np.float64).reshape(len(groups), -1))
    rng = np.random.default_rng([seed, 1])
    order, min_groups = _champions_first(_interleaved_order(_group_strata(positive), rng), positive)
    return tuple(str(unique[g]) for g in order), min_groups


def make_split(
    ids: Sequence[str],
    groups: Sequence[str],
    labels: np.ndarray,
    *,
    val_frac: float = 0.1,
    test_frac: float = 0.2,
    seed: int = 0,
    fixed_test_ids: Sequence[str] | None = None,
    fixed_val_ids: Sequence[str] | None = None,
    label_names: Sequence[str] = (),
    group_key: str = "patient",
) -> Split:
    """Split images into train/val/test by group, stratified by ``labels`` ``[N, C]`` (NaN allowed), seeded.

    ``groups`` holds each image's group (patient id; the image id itself for SIIM). With
    ``fixed_test_ids`` (e.g. CheXpert's valid.csv) or ``fixed_val_ids`` those images form that split and
    its fraction is ignored; other images of their groups are left out (recorded in ``params``).
    """
    ids = [str(i) for i in ids]
    labels = np.asarray(labels, dtype=np.float64).reshape(len(ids), -1)
    if len(groups) != len(ids):
        raise ValueError(f"{len(ids)} ids but {len(groups)} groups")
    if len(set(ids)) != len(ids):
        dup = next(i for i, n in Counter(ids).items() if n > 1)
        raise DataError(f"image id {dup!r} appears more than once; splits need unique image ids")
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ConfigError(f"val_frac={val_frac} and test_frac={test_frac} must be >= 0 and sum to less than 1")
    group_of = np.asarray(groups, dtype=object).astype(str)
    fixed = {"test": set(map(str, fixed_test_ids or ())), "val": set(map(str, fixed_val_ids or ()))}
    for name, chosen in fixed.items():
        missing = sorted(chosen - set(ids))
        if missing:
            raise DataError(f"{len(missing)} fixed {name} ids are not in the data, e.g. {missing[:5]}")
    fixed_groups = {name: set(group_of[[i in chosen for i in ids]]) if chosen else set()
                    for name, chosen in fixed.items()}
    all_fixed_groups = fixed_groups["test"] | fixed_groups["val"]
    in_fixed_group = np.array([g in all_fixed_groups for g in group_of], dtype=bool)
    in_fixed_list = np.array([i in fixed["test"] or i in fixed["val"] for i in ids], dtype=bool)
    pool = ~in_fixed_group  # images whose group is split here
    unique, inverse = np.unique(group_of[pool], return_inverse=True)
    positive = _positive_by_group(inverse, len(unique), labels[pool])
    order = _interleaved_order(_group_strata(positive), np.random.default_rng([seed, 0]))
    n_test = 0 if fixed["test"] else int(math.floor(test_frac * len(unique) + 0.5))
    n_val = 0 if fixed["val"] else int(math.floor(val_frac * len(unique) + 0.5))
    chunks = {"test": list(order[:n_test]), "val": list(order[n_test : n_test + n_val]),
              "train": list(order[n_test + n_val :])}
    _ensure_positives(chunks, positive, [n for n in ("test", "val") if chunks[n]])
    split_of_group = {str(unique[g]): name for name, gs in chunks.items() for g in gs}
    pool_ids = np.asarray(ids, dtype=object)[pool]
    assigned = {name: [i for i, g in zip(pool_ids, group_of[pool]) if split_of_group[g] == name] for name in chunks}
    for name, chosen in fixed.items():
        assigned[name] += [i for i in ids if i in chosen]
    train_set = set(assigned["train"])
    train_mask = np.array([i in train_set for i in ids], dtype=bool)
    train_ids = [i for i in ids if i in train_set]
    group_order, min_groups = fraction_order(group_of[train_mask], labels[train_mask], seed)
    params = {
        "method": "grouped-stratified",
        "seed": int(seed),
        "val_frac": float(val_frac),
        "test_frac": float(test_frac),
        "group_key": group_key,
        "stratify_labels": [str(n) for n in label_names],
        "fixed_test": bool(fixed["test"]),
        "fixed_val": bool(fixed["val"]),
        "dropped_sharing_fixed_group": int((in_fixed_group & ~in_fixed_list).sum()),
        "standard_fractions": list(STANDARD_FRACTIONS),
    }
    val_set, test_set = set(assigned["val"]), set(assigned["test"])
    return Split(
        train=tuple(train_ids),
        val=tuple(i for i in ids if i in val_set),
        test=tuple(i for i in ids if i in test_set),
        train_groups=tuple(str(g) for g in group_of[train_mask]),
        group_order=group_order,
        min_groups=min_groups,
        params=params,
    )


def split_table(table, labels: Sequence[str], *, group_by: str = "patient", **kwargs: Any) -> Split:
    """:func:`make_split` on a :class:`~ecamp_bench.data.samples.SampleTable`.

    ``group_by="patient"`` groups by ``patient_id``; ``"image"`` makes every image its own group (SIIM).
    """
    if group_by not in ("patient", "image"):
        raise ConfigError(f"unknown split grouping {group_by!r}; valid: patient, image")
    groups = table.patients if group_by == "patient" else table.ids
    return make_split(table.ids, groups, table.label_matrix(labels), label_names=labels, group_key=group_by, **kwargs)


def fraction_subset(split: Split, fraction: float | str) -> list[str]:
    """The train image ids of a label ``fraction`` (nested: a smaller fraction is a subset of a larger one)."""
    fraction = parse_fraction(fraction)
    if fraction in split.explicit_fractions:
        return list(split.explicit_fractions[fraction])
    if fraction >= 1.0:
        return list(split.train)
    n = len(split.group_order)
    size = min(n, max(int(math.floor(fraction * n + 0.5)), split.min_groups, 1))
    chosen = set(split.group_order[:size])
    return [i for i, g in zip(split.train, split.train_groups) if g in chosen]


def write_manifest(split: Split, path: Path, *, created_by: str | None = None) -> str:
    """Write ``split`` as a manifest JSON at ``path`` (atomically) and return its sha256.

    The hash covers the content (ids, groups, fraction order, parameters), not the provenance
    (``created_by``), so the same split has the same hash whichever version wrote it.
    """
    from ecamp_bench import __version__

    content = split.content()
    digest = config_sha256(content)
    document = {**content, "created_by": created_by or f"ecamp-bench {__version__}", "sha256": digest}
    from ecamp_bench.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps(document, indent=1, sort_keys=True) + "\n")
    return digest


def read_manifest(path: Path) -> Split:
    """Read a manifest written by :func:`write_manifest`, verifying its sha256.

    A file that is not a manifest, or whose content no longer matches its hash (edited by hand),
    raises :class:`DataError` naming the file.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the split manifest: {exc}", path=path) from exc
    required = ("schema_version", "params", "train", "val", "test", "train_groups", "group_order", "sha256")
    missing = [k for k in required if not isinstance(document, dict) or k not in document]
    if missing:
        raise DataError(f"not a split manifest (missing {', '.join(missing)})", path=path)
    if document["schema_version"] != MANIFEST_SCHEMA:
        raise DataError(f"split manifest schema {document['schema_version']!r} is not {MANIFEST_SCHEMA}", path=path)
    split = Split(
        train=tuple(document["train"]),
        val=tuple(document["val"]),
        test=tuple(document["test"]),
        train_groups=tuple(document["train_groups"]),
        group_order=tuple(document["group_order"]),
        min_groups=int(document.get("min_groups", 1)),
        explicit_fractions={float(k): tuple(v) for k, v in document.get("explicit_fractions", {}).items()},
        params=document["params"],
    )
    stored = {k: v for k, v in document.items() if k not in ("sha256", "created_by")}
    if config_sha256(stored) != document["sha256"] or split.sha256 != document["sha256"]:
        raise DataError(
            f"split manifest content does not match its sha256 {document['sha256']} (was it edited?); "
            "regenerate it instead of editing it",
            path=path,
        )
    return split
