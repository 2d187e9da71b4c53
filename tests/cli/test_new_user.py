"""What a new user trips over, each fixed and tested: interrupts say what was kept, failures leave no folders,
a finished run resumes with a sensible summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecamp_bench.cli import main


def test_ctrl_c_on_eval_says_what_was_kept_and_how_to_resume(monkeypatch, capsys):
    import ecamp_bench.evaluation.runner as runner

    def interrupted(request, catalog, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_evaluation", interrupted)
    assert main(["eval", "--task", "rsna-cls", "--backbone", "random-init", "--seed", "3"]) == 130
    err = capsys.readouterr().err.replace("\n", " ")
    assert "interrupted during seed 3: kept no record" in err and "Run the same command again to resume" in err


@pytest.mark.parametrize("checkpoint", [False, True])
def test_ctrl_c_on_pretrain_keeps_a_resumable_folder_or_removes_an_empty_one(checkpoint, monkeypatch, tmp_path,
                                                                               capsys):
    import ecamp_bench.pretrain.checkpointing as ckpt
    import ecamp_bench.pretrain.loop as loop

    run = tmp_path / "run"

    def interrupted(cfg, run_dir, **kwargs):
        Path(run_dir).mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "run_pretraining", interrupted)
    if checkpoint:
        monkeypatch.setattr(ckpt, "latest_checkpoint", lambda run_dir: Path(run_dir) / "checkpoint-000040.pt")
    assert main(["pretrain", "--out", str(run)]) == 130
    err = capsys.readouterr().err.replace("\n", " ")
    if checkpoint:
        assert run.is_dir() and "kept" in err and "checkpoint-000040.pt" in err
        assert "ecamp-bench pretrain --config cpu-small --resume" in err
    else:
        assert not run.exists() and "nothing to resume" in err


def test_a_failed_pretrain_leaves_no_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    empty = tmp_path / "no-data"
    empty.mkdir()
    assert main(["pretrain", "--out", str(run), "--data-root", str(empty)]) != 0
    assert not run.exists()
    assert "was removed" in capsys.readouterr().err.replace("\n", " ")


def test_resume_of_a_finished_run_prints_a_summary_not_an_empty_table(monkeypatch, tmp_path, capsys):
    import ecamp_bench.pretrain.loop as loop

    def finished(cfg, run_dir, **kwargs):
        return loop.PretrainResult(Path(run_dir), 400, 0.5, tmp_path / "b.safetensors", {}), None

    monkeypatch.setattr(loop, "run_pretraining", finished)
    assert main(["pretrain", "--out", str(tmp_path / "run"), "--resume"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "nothing to train: the run in" in out and "already finished (400 steps)" in out and "first 10%" not in out


@pytest.mark.slow
def test_a_cell_with_very_few_training_images_warns_at_run_time(synthetic_tiny, capsys):
    import json

    from _backbones import export_tiny_backbone
    from ecamp_bench.paths import results_dir

    export_tiny_backbone()
    assert main(["eval", "--task", "rsna-cls", "--fraction", "0.05", "--data-root", str(synthetic_tiny), "--preset",
                 "tiny", "--set", "eval.n_bootstrap=20"]) == 0
    err = capsys.readouterr().err.replace("\n", " ")
    assert "warning: the training subset is too small" in err and "training images" in err
    (record,) = [json.loads(p.read_text()) for p in (results_dir() / "runs").rglob("*.json")]
    assert record["dataset"]["small_train_set"][0].endswith("training images")
    assert not list((results_dir() / "runs").rglob(".work-*"))


def test_list_names_recipes_as_a_kind_and_lists_them_with_everything_else(capsys):
    assert main(["list", "recipess"]) == 2
    assert "Did you mean 'recipes'?" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "mgca" in capsys.readouterr().out.split("recipes", 1)[-1]


def test_errors_read_as_sentences(capsys):
    assert main(["reproduce", "mgca-tabel", "--dry-run"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown recipe 'mgca-tabel'" in err and "Valid recipes:" in err and "recipes preset" not in err
    assert main(["eval", "--task", "rsna-cls", "--protocol", "frozen-seg", "--backbone", "random-init"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "protocol 'frozen-seg' runs segmentation tasks, not task 'rsna-cls' (classification)" in err
    assert "['" not in err and "its protocols: linear" in err
    assert main(["eval", "--task", "rsna-cls", "--backbone", "random-init", "--preset", "tinyy"]) == 2
    assert "unknown preset 'tinyy' of protocol 'linear'. Did you mean 'tiny'?" in capsys.readouterr().err


def test_compare_refuses_a_backbone_against_itself(tmp_path, capsys):
    assert main(["compare", "random-init", "random-init", "--results", str(tmp_path)]) == 2
    assert "two different backbones" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["eval"], ["sweep"], ["pretrain"], ["compare"], ["leaderboard"], ["reproduce"],
                                     ["list"], ["data", "synth"], ["distill"]])
def test_help_shows_no_rst_markup(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    main([*command, "--help"])
    out = capsys.readouterr().out
    assert "Usage" in out and "``" not in out
