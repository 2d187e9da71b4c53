"""Evaluation under ``torchrun``: two gloo ranks write exactly one record (rank 0's) with predictions for the
whole test split; the linear protocol's sharded feature extraction gives the single-process result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from _backbones import export_tiny_backbone
from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir

pytestmark = [pytest.mark.slow, pytest.mark.ddp]


def torchrun_eval(*args: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 -m ecamp_bench.cli eval ARGS`` (gloo on CPU)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ecamp_bench.cli", "eval", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)


def only_record() -> tuple[dict, dict[str, np.ndarray]]:
    """The single record under results/runs and its predictions."""
    (path,) = sorted((results_dir() / "runs").rglob("*.json"))
    record = json.loads(path.read_text())
    with np.load(path.with_suffix(".predictions.npz")) as data:
        return record, {k: data[k] for k in data.files}


def test_linear_probe_on_two_ranks_equals_one_process(synthetic_tiny, monkeypatch, tmp_path):
    weights = export_tiny_backbone(size=64)
    args = ["--task", "rsna-cls", "--fraction", "1", "--data-root", str(synthetic_tiny), "--preset", "tiny",
            "--backbone", f"file:{weights}", "--set", "eval.n_bootstrap=50"]
    done = torchrun_eval(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("rsna-cls 100% linear") == 1  # only rank 0 reports
    ddp, ddp_pred = only_record()
    assert ddp["status"] == "ok" and ddp["env"]["world_size"] == 2

    monkeypatch.setenv("ECAMP_BENCH_CACHE", str(tmp_path / "fresh-cache"))  # extract the features again, alone
    assert main(["eval", *args, "--force"]) == 0
    single, single_pred = only_record()
    assert single["run_key"] == ddp["run_key"] and single["env"]["world_size"] == 1
    assert list(single_pred["ids"]) == list(ddp_pred["ids"])
    np.testing.assert_allclose(ddp_pred["scores"], single_pred["scores"], atol=1e-5)
    assert ddp["metrics"][0]["value"] == pytest.approx(single["metrics"][0]["value"], abs=1e-6)


@pytest.mark.mm
@pytest.mark.parametrize(
    "task, protocol, overrides",
    [
        ("rsna-cls", "finetune", ["protocol.steps=4", "protocol.eval_every=2"]),
        ("siim-seg", "frozen-seg", ["protocol.epochs=1"]),
        ("rsna-det", "frozen-det", ["protocol.max_epochs=1", "protocol.patience=1"]),
    ],
)
def test_trained_protocols_run_on_two_ranks_and_predict_the_whole_test_split(synthetic_tiny, task, protocol, overrides):
    weights = export_tiny_backbone(size=64)
    sets = [arg for item in ["eval.n_bootstrap=20", *overrides] for arg in ("--set", item)]
    done = torchrun_eval("--task", task, "--protocol", protocol, "--fraction", "1", "--data-root", str(synthetic_tiny),
                         "--preset", "tiny", "--backbone", f"file:{weights}", *sets)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record, pred = only_record()
    assert record["status"] == "ok" and record["env"]["world_size"] == 2
    assert len(pred["ids"]) == record["split"]["n_test"] == len(set(pred["ids"]))
    assert np.isfinite(pred["scores"].astype(np.float64)).all()
    assert record["metrics"][0]["n"] == record["split"]["n_test"]


def test_sweep_refuses_torchrun_and_names_the_alternatives(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["sweep", "--tasks", "rsna-cls", "--dry-run"]) != 0
    err = capsys.readouterr().err
    assert "torchrun" in err and "--shard" in err
