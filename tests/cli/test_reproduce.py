"""Recipes through the CLI: `list recipes`, `reproduce --dry-run` with sources, and an end-to-end `reproduce` run."""

from __future__ import annotations

import pytest

from _backbones import export_tiny_backbone
from ecamp_bench.cli import main


def test_list_recipes_names_the_four_papers(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich tables fold long cells at the default width
    assert main(["list", "recipes"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("ecamp", "mrm", "mgca", "benchx"))
    assert main(["list", "recipes", "ecamp"]) == 0
    assert "run_ft.sh:35-38" in capsys.readouterr().out


def test_dry_run_prints_rsna_1pct_with_its_source_line(capsys, monkeypatch):
    monkeypatch.delenv("ECAMP_BENCH_SPLITS", raising=False)
    assert main(["reproduce", "ecamp", "--backbone", "random-init", "--dry-run", "--tasks", "rsna-cls"]) == 0
    out = capsys.readouterr().out
    block = out.split("rsna-cls finetune 1%")[1].split("rsna-cls finetune 10%")[0]
    for line in ("steps = 2000  (ECAMP/Fine-tuning/Classification/run_ft.sh:35-38)", "batch_size = 256", "lr = 0.003",
                 "warmup_steps = 50", "grad_clip = 1.0  (ECAMP/Fine-tuning/Classification/train.py:555"):
        assert line in block
    assert "eval_every = 100  (protocol default: not given by the source)" in block
    assert "evaluating on our own seeded splits" in out


def test_dry_run_shows_preset_and_set_over_the_recipe(capsys):
    assert main(["reproduce", "ecamp", "--backbone", "random-init", "--dry-run", "--tasks", "rsna-cls",
                 "--preset", "tiny", "--set", "protocol.lr=0.5"]) == 0
    block = capsys.readouterr().out.split("rsna-cls finetune 1%")[1].split("rsna-cls finetune 10%")[0]
    assert "steps = 30  (preset)" in block and "lr = 0.5  (--set)" in block and "grad_clip = 1.0  (ECAMP" in block


@pytest.mark.slow
def test_reproduce_ecamp_tiny_runs_end_to_end_and_shows_the_published_column(synthetic_tiny, capsys):
    path = export_tiny_backbone()
    args = ["reproduce", "ecamp", "--backbone", f"file:{path}", "--data-root", str(synthetic_tiny), "--preset", "tiny",
            "--tasks", "rsna-cls", "--set", "eval.n_bootstrap=20", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 run" in out and "published" in out and "in CI" in out
    assert main(args) == 0  # resumable: every cell is already done
    assert "0 run, 3 already done" in capsys.readouterr().out
    assert main(["leaderboard", "--format", "md", "--no-write"]) == 0
    assert "(recipe ecamp@" in capsys.readouterr().out  # the leaderboard row names the recipe and its hash
