"""The published reference rows line up with registered backbones and real task columns."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ecamp_bench.leaderboard.reference import load_references, rows_for_table
from ecamp_bench.plugins import load_catalog

REFERENCES = Path(__file__).resolve().parents[2] / "configs" / "reference" / "published.yaml"


def test_every_reference_row_names_a_registered_backbone_a_task_metric_and_a_protocol_of_that_task():
    catalog = load_catalog(autoload=False)
    rows = load_references(REFERENCES)
    for row in rows:
        task = catalog.task(row.task)
        assert row.protocol in task.protocols, row
        assert row.metric in {m.name for m in task.metrics}, row
        if row.backbone:
            catalog.backbone(row.backbone)  # raises for an unknown name
    named = {r.backbone for r in rows if r.backbone}
    assert {"mgca-r50", "gloria", "convirt", "medklip", "m-flag", "imagenet-r50", "random-r50", "mrm"} <= named
    dense = {(r.backbone, r.protocol, r.task, r.metric) for r in rows}
    assert ("mgca-r50", "frozen-det", "rsna-det", "map_40_75_mgca") in dense
    assert ("mgca-r50", "frozen-seg", "siim-seg", "dice_per_image") in dense


def test_reference_rows_of_measured_backbones_come_first_in_the_tables_order():
    rows = load_references(REFERENCES)
    column = SimpleNamespace(task="rsna-det", metric="map_40_75_mgca", fraction=0.01)
    table = SimpleNamespace(protocol="frozen-det", columns=[column],
                            backbones=["my-model", "medklip", "mgca-r50 [weights 1a2b3c4d, config 5e6f7a8b]"])
    labels = [label for label, _, _ in rows_for_table(table, rows)]
    assert labels[:2] == ["medklip: MedKLIP (R50)", "mgca-r50: MGCA (R50)"]
    assert len(labels) == len({r.label for r in rows if r.protocol == "frozen-det"})
