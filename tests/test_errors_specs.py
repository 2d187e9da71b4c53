"""Errors name what is at fault; specs refuse malformed definitions."""

from __future__ import annotations

import pytest

from ecamp_bench.errors import DataError, UnknownNameError
from ecamp_bench.specs import BackboneSpec, MetricSpec, ProtocolSpec, TaskSpec


def test_unknown_name_suggests_the_closest_and_lists_all():
    err = UnknownNameError("task", "rsna-dte", ["siim-seg", "rsna-det", "rsna-cls"])
    assert "Did you mean 'rsna-det'?" in str(err)
    assert "rsna-cls, rsna-det, siim-seg" in str(err)


def test_unknown_name_without_close_match_has_no_suggestion():
    assert "Did you mean" not in str(UnknownNameError("task", "zzz", ["rsna-det"]))


def test_data_error_names_file_row_and_key():
    err = DataError("value is not a number", path="labels.csv", row=7, key="Target")
    assert str(err) == "labels.csv, row 7, key 'Target': value is not a number"


def _task(**changes):
    fields = dict(
        name="toy-cls",
        version=1,
        kind="classification",
        layout="toy",
        labels=("a",),
        metrics=(MetricSpec(name="auc", primary=True),),
        protocols=("linear",),
        implementation="x:y",
    )
    fields.update(changes)
    return TaskSpec(**fields)


def test_task_spec_accepts_a_well_formed_task():
    assert _task().primary_metric.name == "auc"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"name": "Toy_Cls"}, "kebab-case"),
        ({"kind": "regression"}, "kind"),
        ({"protocols": ()}, "no protocol"),
        ({"metrics": (MetricSpec(name="a"), MetricSpec(name="b"))}, "exactly one metric"),
    ],
)
def test_task_spec_rejects_malformed_definitions(changes, message):
    with pytest.raises(ValueError, match=message):
        _task(**changes)


def test_protocol_spec_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown kinds"):
        ProtocolSpec(name="p", version=1, kinds=("tabular",), params=dict, run="m:f")


def test_specs_are_frozen():
    spec = BackboneSpec(name="b", arch="vit_tiny_patch16_224")
    with pytest.raises(AttributeError):
        spec.name = "c"  # type: ignore[misc]
