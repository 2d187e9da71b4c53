"""External-validation tasks: composite layouts, the shared-label mapping, source-only training, target test set."""

from __future__ import annotations

import math

import numpy as np

import pytest

from ecamp_bench.plugins import get_catalog
from ecamp_bench_plugins.tasks.external_cls import IMPLEMENTATION, LABELS, pair_layout, shared_labels


def test_name_mapping_and_uncertain_policy():
    chexpert = {"Pleural Effusion": -1.0, "Pneumonia": -1.0, "Cardiomegaly": 1.0, "Edema": math.nan}
    mapped = shared_labels("chexpert", chexpert)
    assert set(mapped) == set(LABELS)
    assert mapped["Effusion"] == 1.0 and mapped["Pneumonia"] == 0.0 and mapped["Cardiomegaly"] == 1.0
    assert mapped["Edema"] == 0.0  # blank = negative
    nih = shared_labels("nih-cxr14", {name: 0.0 for name in LABELS} | {"Effusion": 1.0})
    assert nih["Effusion"] == 1.0


@pytest.mark.parametrize(
    "task,source,target,test_split",
    [
        ("chexpert-to-nih-cls", "chexpert", "nih-cxr14", "test"),
        ("nih-to-chexpert-cls", "nih-cxr14", "chexpert", "valid"),
        ("mimic-to-nih-cls", "mimic-cxr", "nih-cxr14", "test"),
    ],
)
def test_prepare_trains_on_source_and_tests_on_target(synthetic_tiny, task, source, target, test_split):
    catalog = get_catalog()
    spec = catalog.task(task)
    layout = catalog.layout(spec.layout)
    assert layout.detect(synthetic_tiny)
    prepared = IMPLEMENTATION.prepare(spec, layout.read(synthetic_tiny))
    by_id = {s.image_id: s for s in prepared.table}
    test = set(prepared.fixed_test_ids)
    assert test and all(by_id[i].meta["source"] == target and by_id[i].split == test_split for i in test)
    rest = [s for s in prepared.table if s.image_id not in test]
    assert rest and all(s.meta["source"] == source and s.split != test_split for s in rest)
    assert all(set(s.labels) == set(LABELS) for s in prepared.table)
    assert IMPLEMENTATION.targets(spec, prepared.table).shape == (len(prepared.table), len(LABELS))
    assert spec.demographics == {"sex": "sex", "age": "age"}


def test_composite_layout_names_the_missing_member(tmp_path):
    from ecamp_bench.errors import DataError

    layout = pair_layout(("chexpert", "nih-cxr14"))
    assert not layout.detect(tmp_path)
    with pytest.raises(DataError, match="chexpert"):
        layout.read(tmp_path)
    assert layout.validate(tmp_path)


def test_mimic_without_labels_is_a_clear_error(tmp_path):
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.errors import DataError

    samples = [
        Sample(
            image_id="mimic-cxr:1",
            image_path=tmp_path / "1.jpg",
            patient_id="p",
            view="PA",
            split="train",
            meta={"source": "mimic-cxr"},
        ),
        Sample(
            image_id="nih-cxr14:2",
            image_path=tmp_path / "2.png",
            patient_id="q",
            split="test",
            labels={name: 0.0 for name in LABELS},
            meta={"source": "nih-cxr14"},
        ),
    ]
    with pytest.raises(DataError, match="mimic-cxr-2.0.0-chexpert.csv.gz"):
        IMPLEMENTATION.prepare(get_catalog().task("mimic-to-nih-cls"), SampleTable("x", tmp_path, samples))


def test_mimic_demographics_from_mimic_iv_patients_file(synthetic_tiny, tmp_path):
    import shutil

    from ecamp_bench_plugins.layouts import mimic_cxr
    from ecamp_bench.evaluation.subgroups import demographic_extras

    root = tmp_path / "mimic"
    shutil.copytree(synthetic_tiny / mimic_cxr.SUBDIR, root)
    subjects = sorted({s.patient_id for s in mimic_cxr.read(root)})
    rows = ["subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod"]
    rows += [f"{s},{'F' if i % 2 else 'M'},{50 + i},2150,2008 - 2010," for i, s in enumerate(subjects)]
    (root / "patients.csv").write_text("\n".join(rows) + "\n")
    table = mimic_cxr.read(root)
    extras = demographic_extras({"sex": "sex", "age": "age"}, list(table))
    assert set(extras["demo_sex"]) == {"F", "M"} and np.isfinite(extras["demo_age"]).all()
