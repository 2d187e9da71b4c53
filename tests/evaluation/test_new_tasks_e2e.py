"""nih-cxr14-cls and covidx-cls end to end through the CLI on the tiny synthetic default: 1/10/100 % nested,
both protocols."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ecamp_bench  # noqa: F401
from _backbones import export_tiny_backbone
from ecamp_bench.cli import main
from ecamp_bench.data.splits import fraction_subset, read_manifest
from ecamp_bench.paths import results_dir

pytestmark = pytest.mark.slow


def _records(task: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results_dir() / "runs" / task).rglob("*.json"))]


@pytest.mark.parametrize("task,metrics", [
    ("nih-cxr14-cls", ["auc", "auc/Atelectasis"]),
    ("covidx-cls", ["accuracy", "auc"]),
])
def test_linear_at_three_fractions_and_finetune(synthetic_tiny, task, metrics, capsys):
    export_tiny_backbone()
    common = ["--data-root", str(synthetic_tiny), "--preset", "tiny", "--set", "eval.n_bootstrap=20"]
    assert main(["sweep", "--tasks", task, "--protocol", "linear", *common, "--fractions", "0.01,0.1,1",
                 "--seeds", "0"]) == 0
    records = [r for r in _records(task) if r["backbone"]["name"] != "random-init"]  # the sweep runs both backbones
    assert sorted(r["fraction"] for r in records) == [0.01, 0.1, 1.0] and all(r["status"] == "ok" for r in records)
    assert [m["name"] for m in records[0]["metrics"]][:2] == metrics and records[0]["primary_metric"] == metrics[0]
    capsys.readouterr()
    assert main(["compare", "file:tiny-vit", "random-init", "--task", task, "--fraction", "1",
                 "--protocol", "linear"]) == 0
    compared = capsys.readouterr().out
    assert metrics[0] in compared and ("DeLong" in compared or "bootstrap" in compared), compared
    split = read_manifest(records[0]["split"]["manifest"])
    one, ten, full = (set(fraction_subset(split, f)) for f in (0.01, 0.1, 1.0))
    assert one <= ten <= full and len(one) < len(full)
    assert main([
        "eval", "--task", task, "--protocol", "finetune", "--fraction", "0.1", *common, "--set", "protocol.steps=4",
        "--set", "protocol.eval_every=2",
    ]) == 0
    (finetuned,) = [r for r in _records(task) if r["protocol"]["name"] == "finetune"]
    assert finetuned["status"] == "ok" and finetuned["config"]["resolved"]["protocol"]["steps"] == 4
    with np.load(results_dir() / "runs" / task / "file--tiny-vit" / finetuned["predictions_file"]) as pred:
        scores = pred["scores"]
    if task == "covidx-cls":  # single-label: softmax rows
        assert scores.shape[1] == 3 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    else:
        assert scores.shape[1] == 14
