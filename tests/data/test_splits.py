"""Split invariants: grouping, stratification, nested fractions, determinism, imports and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.data.splits import (
    fraction_subset,
    make_split,
    parse_fraction,
    read_manifest,
    split_table,
    write_manifest,
)
from ecamp_bench.errors import ConfigError, DataError

CLASSES = ("rare", "uncommon", "common", "frequent")
PREVALENCE = np.array([0.004, 0.03, 0.15, 0.4])


def synthetic_table(n_patients: int = 600, seed: int = 0, root: Path = Path("/data/cxr")) -> SampleTable:
    """Patients with 1-4 images each; labels drawn per patient so images of a patient agree."""
    rng = np.random.default_rng(seed)
    samples = []
    for p in range(n_patients):
        patient_labels = (rng.random(len(CLASSES)) < PREVALENCE).astype(float)
        for k in range(int(rng.integers(1, 5))):
            values = patient_labels.copy()
            values[rng.random(len(CLASSES)) < 0.1] = np.nan
            image_id = f"p{p:05d}-s{k}"
            samples.append(
                Sample(
                    image_id=image_id,
                    image_path=root / "train" / f"patient{p:05d}" / f"study{k + 1}" / "view1_frontal.jpg",
                    patient_id=f"patient{p:05d}",
                    labels=dict(zip(CLASSES, values)),
                )
            )
    return SampleTable("toy", root, tuple(samples))


@pytest.fixture(scope="module")
def table() -> SampleTable:
    return synthetic_table()


@pytest.fixture(scope="module")
def split(table):
    return split_table(table, CLASSES, seed=7, val_frac=0.1, test_frac=0.2)


def _patients(table, ids):
    by_id = {s.image_id: s.patient_id for s in table}
    return {by_id[i] for i in ids}


def _positive_rate(table, ids, cls):
    matrix = table.select(ids).label_matrix([cls])[:, 0]
    return float(np.mean(matrix == 1.0))


def test_split_covers_every_image_once_and_patients_never_cross(table, split):
    all_ids = [*split.train, *split.val, *split.test]
    assert sorted(all_ids) == sorted(table.ids)
    train, val, test = (_patients(table, ids) for ids in (split.train, split.val, split.test))
    assert not (train & val) and not (train & test) and not (val & test)
    n_patients = len(set(table.patients))
    assert abs(len(test) - 0.2 * n_patients) <= 4 and abs(len(val) - 0.1 * n_patients) <= 4


def test_split_is_stratified_like_the_pool(table, split):
    for cls in ("common", "frequent"):
        pool = _positive_rate(table, table.ids, cls)
        for ids in (split.train, split.val, split.test):
            assert abs(_positive_rate(table, ids, cls) - pool) < 0.35 * pool + 0.01, cls
    # a class with a handful of positive patients still gets positives into val and test
    for ids in (split.val, split.test):
        assert _positive_rate(table, ids, "uncommon") > 0


def test_fractions_are_nested_grouped_stratified_and_keep_one_positive_per_class(table, split):
    subsets = {f: fraction_subset(split, f) for f in (0.01, 0.05, 0.1, 0.5, 1.0)}
    assert subsets[1.0] == list(split.train)
    fractions = sorted(subsets)
    for small, large in zip(fractions, fractions[1:]):
        assert set(subsets[small]) <= set(subsets[large])
    train_patients = _patients(table, split.train)
    for f, ids in subsets.items():
        chosen = _patients(table, ids)
        # whole patients only: every image of a chosen patient is in the subset
        assert len(ids) == sum(1 for i in split.train if _patients(table, [i]) <= chosen)
        if f >= 0.05:
            assert abs(len(chosen) - f * len(train_patients)) <= max(1, 0.01 * len(train_patients)) + 4
    pool_positive = table.select(split.train).label_matrix(CLASSES) == 1.0
    one_percent = table.select(subsets[0.01]).label_matrix(CLASSES) == 1.0
    for c, cls in enumerate(CLASSES):
        if pool_positive[:, c].any():
            assert one_percent[:, c].any(), f"no positive for {cls} at 1%"
    pool_rate = _positive_rate(table, split.train, "frequent")
    assert abs(_positive_rate(table, subsets[0.1], "frequent") - pool_rate) < 0.15


def test_any_fraction_in_range_works_and_fraction_strings_parse(split):
    assert len(fraction_subset(split, "10%")) == len(fraction_subset(split, 0.1))
    assert 0 < len(fraction_subset(split, 0.0001)) < len(fraction_subset(split, 0.3))
    assert ([parse_fraction(t) for t in ("0.01", "1%", "1", "10%", 0.1, "100%", 1)]
            == [0.01, 0.01, 1.0, 0.1, 0.1, 1.0, 1.0])
    for bad in ("0", "10", "1.5", "abc", "-1%", "", "nan", 0.0, 2):
        with pytest.raises(ConfigError, match="1%"):
            parse_fraction(bad)


def test_same_seed_same_split_other_seed_differs(table, split):
    again = split_table(table, CLASSES, seed=7, val_frac=0.1, test_frac=0.2)
    assert again == split and again.sha256 == split.sha256
    other = split_table(table, CLASSES, seed=8, val_frac=0.1, test_frac=0.2)
    assert set(other.test) != set(split.test) and other.sha256 != split.sha256
    reordered = SampleTable(table.layout, table.root, tuple(reversed(table.samples)))
    assert set(split_table(reordered, CLASSES, seed=7, val_frac=0.1, test_frac=0.2).test) == set(split.test)


def test_fixed_test_set_is_honoured(table):
    fixed = [s.image_id for s in table if s.patient_id < "patient00050"]
    split = split_table(table, CLASSES, seed=1, val_frac=0.1, fixed_test_ids=fixed[:-1])
    assert set(split.test) == set(fixed[:-1])
    # the one image of a test patient left out of the fixed list is dropped, never trained on
    assert fixed[-1] not in split.train and fixed[-1] not in split.val
    assert split.params["dropped_sharing_fixed_group"] == 1
    assert not _patients(table, split.test) & _patients(table, [*split.train, *split.val])
    with pytest.raises(DataError, match="fixed test"):
        split_table(table, CLASSES, fixed_test_ids=["nope"])


def test_siim_style_split_groups_by_image():
    # several images per "patient" but SIIM groups by image: patients may be shared, images never
    table = synthetic_table(n_patients=150, seed=3)
    split = split_table(table, ["frequent"], group_by="image", seed=0)
    assert split.params["group_key"] == "image"
    assert set(split.train_groups) == set(split.train)
    assert _patients(table, split.train) & _patients(table, split.test)  # allowed when grouping by image
    assert len(set(split.train) | set(split.val) | set(split.test)) == len(table)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_manifest_round_trip_and_tamper_detection(split, tmp_path):
    path = tmp_path / "splits" / "toy-seed7.json"
    digest = write_manifest(split, path)
    assert digest == split.sha256 and len(digest) == 64
    loaded = read_manifest(path)
    assert loaded == split and loaded.sha256 == digest
    assert fraction_subset(loaded, 0.01) == fraction_subset(split, 0.01)
    document = json.loads(path.read_text())
    assert document["sha256"] == digest and document["params"]["seed"] == 7
    assert document["fractions"]["0.01"] == fraction_subset(split, 0.01)
    assert not list(path.parent.glob("*.tmp"))
    document["test"] = document["test"][1:] + [document["train"][0]]
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=r"toy-seed7\.json.*sha256"):
        read_manifest(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match="toy-seed7.json"):
        read_manifest(path)


def test_make_split_rejects_duplicate_ids_and_bad_fractions():
    with pytest.raises(DataError, match="'a'"):
        make_split(["a", "a"], ["p", "q"], np.zeros((2, 1)))
    with pytest.raises(ConfigError, match="val_frac"):
        make_split(["a", "b"], ["p", "q"], np.zeros((2, 1)), val_frac=0.6, test_frac=0.5)
