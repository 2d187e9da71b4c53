"""End to end through the CLI on the tiny synthetic data: records, predictions, skip/--force, leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ecamp_bench  # noqa: F401
from _backbones import KWARGS, export_tiny_backbone, finetune_eval_args
from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir
from ecamp_bench.results.record import REQUIRED_KEYS

pytestmark = pytest.mark.slow


def records() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results_dir() / "runs").rglob("*.json"))]


def test_eval_writes_record_and_predictions_then_skips_and_forces(synthetic_tiny, capsys):
    export_tiny_backbone()
    args = ["eval", "--task", "rsna-cls", "--fraction", "10%", "--data-root", str(synthetic_tiny), "--preset", "tiny",
            "--set", "eval.n_bootstrap=50"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rsna-cls 10% linear file:tiny-vit seed 0: auc" in out
    (record,) = records()
    assert [key for key in REQUIRED_KEYS if key not in record] == []
    assert (record["status"] == "ok" and record["fraction"] == 0.1
            and record["protocol"] == {"name": "linear", "version": 1})
    assert len(record["backbone"]["weights_sha256"]) == 64 and record["dataset"]["layout"] == "rsna-pneumonia"
    assert (record["config"]["resolved"]["protocol"]["lr"] == 1e-2
            and record["config"]["resolved"]["eval"]["n_bootstrap"] == 50)
    assert set(record["env"]) >= {"ecamp_bench", "python", "torch", "timm", "device", "git_commit", "git_dirty"}
    assert set(record["timing"]) == {"started_at", "finished_at", "wall_time_s"}
    assert record["split"]["n_test"] == record["metrics"][0]["n"] > 0
    assert record["plugins"]["task"] == "ecamp-bench==0.1.0"
    (run_file,) = (results_dir() / "runs" / "rsna-cls" / "file--tiny-vit").glob("*.json")
    assert run_file.stem == record["run_key"]
    with np.load(run_file.with_suffix(".predictions.npz")) as pred:
        assert pred["scores"].shape == (record["split"]["n_test"], 1) and len(set(pred["ids"])) == len(pred["ids"])
        assert np.isin(pred["targets"], (0.0, 1.0)).all()

    assert main(args) == 0
    assert "skipped, already done" in capsys.readouterr().out
    assert records()[0]["timing"] == record["timing"]
    assert main([*args, "--force"]) == 0
    assert records()[0]["timing"]["started_at"] >= record["timing"]["started_at"]
    assert "skipped" not in capsys.readouterr().out

    assert main([*args, "--seed", "1", "--backbone", "random-init"]) == 0  # random-init takes tiny-vit's arch
    (rnd,) = [r for r in records() if r["backbone"]["name"] == "random-init"]
    assert rnd["config"]["resolved"]["backbone"]["model_kwargs"] == KWARGS and rnd["backbone"]["weights_sha256"] is None
    capsys.readouterr()
    assert main(["leaderboard", "--format", "md"]) == 0
    board = capsys.readouterr().out
    assert "### linear v1 (preset tiny)" in board and "| file:tiny-vit |" in board
    assert "| random-init(vit_tiny_patch16_224 depth=2 embed_dim=32 " in board  # the architecture it built, by name


def test_chexpert_uses_the_official_valid_set_as_test(synthetic_tiny):
    export_tiny_backbone()
    assert main(["eval", "--task", "chexpert-cls", "--data-root", str(synthetic_tiny), "--preset", "tiny",
                 "--set", "eval.n_bootstrap=20"]) == 0
    (record,) = records()
    manifest = json.loads(open(record["split"]["manifest"]).read())
    assert manifest["test"] and all("/valid/" in i or i.startswith("valid") or "valid" in i for i in manifest["test"])
    assert not set(manifest["test"]) & set(manifest["train"]) and record["split"]["n_test"] == len(manifest["test"])
    names = [m["name"] for m in record["metrics"]]
    assert names[:6] == ["auc", "auc/Atelectasis", "auc/Cardiomegaly", "auc/Consolidation", "auc/Edema",
                         "auc/Pleural Effusion"]
    assert {"ece", "brier", "auc[sex=F]", "auc[sex=M]", "auc_gap[sex]", "auc[age=80+]", "auc_gap[age]"} <= set(names)
    assert record["cost"]["params"] > 0 and record["cost"]["gflops"] > 0 and record["dataset"]["subgroups"]["groups"]


@pytest.mark.parametrize("preset, head_norm", [("tiny", "none"), ("cpu-demo", "batchnorm")])
def test_finetune_runs_and_records_its_protocol(synthetic_tiny, preset, head_norm):
    export_tiny_backbone()
    assert main(finetune_eval_args(synthetic_tiny, preset=preset)) == 0
    (record,) = records()
    resolved = record["config"]["resolved"]["protocol"]
    assert record["protocol"]["name"] == "finetune" and resolved["steps"] == 4 and resolved["head_norm"] == head_norm
    assert record["metrics"][0]["ci95"] is None


def test_no_backbone_and_empty_pretrained_is_a_clear_error(synthetic_tiny, capsys):
    assert main(["eval", "--task", "rsna-cls", "--data-root", str(synthetic_tiny)]) == 2
    assert "ecamp-bench pretrain" in capsys.readouterr().err


def test_bad_override_and_fraction_are_named(synthetic_tiny, capsys):
    export_tiny_backbone()
    assert main(["eval", "--task", "rsna-cls", "--data-root", str(synthetic_tiny), "--set", "protocol.lrr=1"]) == 2
    assert "protocol.lrr" in capsys.readouterr().err
    assert main(["eval", "--task", "rsna-cls", "--fraction", "150%"]) == 2
    assert "150%" in capsys.readouterr().err


def test_task_option_override_reaches_the_task_and_the_run_key(synthetic_tiny):
    from ecamp_bench.evaluation.runner import RunRequest, prepare_run
    from ecamp_bench.plugins import get_catalog

    export_tiny_backbone()
    base = RunRequest(task="chexpert-cls", fraction=1.0, data_root=synthetic_tiny)
    published = prepare_run(base, get_catalog())
    ignore = prepare_run(RunRequest(task="chexpert-cls", fraction=1.0, data_root=synthetic_tiny,
                                    overrides=["task.options.uncertainty_policy=ignore"]), get_catalog())
    assert ignore.task.options["uncertainty_policy"] == "ignore" and ignore.key != published.key
    from ecamp_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="Foo"):  # the option reaches the task's prepare()
        prepare_run(RunRequest(task="chexpert-cls", fraction=1.0, data_root=synthetic_tiny,
                               overrides=["task.options.uncertainty_policy={Foo: ones}"]), get_catalog())
