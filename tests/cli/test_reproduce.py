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


def test_dry_run_needs_no_backbone_but_a_run_does(capsys):
    from ecamp_bench.paths import results_dir

    assert main(["reproduce", "ecamp", "--dry-run", "--tasks", "rsna-cls"]) == 0
    assert "steps = 2000" in capsys.readouterr().out
    assert main(["reproduce", "ecamp", "--tasks", "rsna-cls", "--preset", "tiny"]) == 2
    captured = capsys.readouterr()
    assert "reproduce needs --backbone" in captured.err and "recipe ecamp" not in captured.out
    assert not results_dir().exists()  # nothing ran


def test_a_missing_weight_file_fails_before_any_cell_starts(capsys, tmp_path):
    from ecamp_bench.paths import results_dir

    missing = tmp_path / "nonexistent.safetensors"
    assert main(["reproduce", "ecamp", "--backbone", f"file:{missing}", "--preset", "tiny", "--tasks", "rsna-cls"]) == 2
    captured = capsys.readouterr()
    (line,) = [line for line in captured.err.splitlines() if line.strip()]
    assert "error:" in line and str(missing) in line and "not found" in line
    assert "recipe ecamp" not in captured.out and not results_dir().exists()  # no cell started


def test_a_file_glob_must_match_one_backbone_file():
    from ecamp_bench.cli.reproduce import reproduce_backbone
    from ecamp_bench.errors import ConfigError

    path = export_tiny_backbone("ecamp-cpu-small-1")
    pattern = f"file:{path.parent}/ecamp-cpu-small-*.safetensors"
    assert reproduce_backbone(pattern, dry_run=False) == f"file:{path}"
    export_tiny_backbone("ecamp-cpu-small-2")
    with pytest.raises(ConfigError, match="matches 2 files"):
        reproduce_backbone(pattern, dry_run=False)
    with pytest.raises(ConfigError, match=r"^--backbone 'file:.*nothing-\*': no file matches"):
        reproduce_backbone(f"file:{path.parent}/nothing-*", dry_run=False)


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


def test_mgca_detection_recipe_replaces_the_small_fraction_fields():
    from ecamp_bench.cli.reproduce import resolve_cell
    from ecamp_bench.evaluation.recipes import load_recipe

    recipe = load_recipe("mgca")
    one, ten = (resolve_cell(recipe, recipe.cell("rsna-det", "frozen-det", f)) for f in (0.01, 0.1))
    assert (one.params["lr"], one.params["batch_size"]) == (2e-4, 8)
    assert (ten.params["lr"], ten.params["batch_size"]) == (5e-4, 16)
    assert one.sources["lr"] == "mgca/models/mgca/run_det_finetune.sh:4"
    assert "small_fraction" not in one.params and "lr_small" not in one.params


def test_published_column_reads_the_recipes_method_rows():
    from ecamp_bench.cli.reproduce import published_value
    from ecamp_bench.config import shipped_configs
    from ecamp_bench.evaluation.recipes import load_recipe
    from ecamp_bench.leaderboard.reference import load_references

    references = load_references(shipped_configs() / "reference" / "published.yaml")
    mrm = load_recipe("mrm")
    value, metric, source = published_value(mrm, mrm.cell("rsna-cls", "finetune", 0.01), references)
    assert value == pytest.approx(0.913) and metric == "auc" and "MaCo" in source
    ecamp = load_recipe("ecamp")
    assert published_value(ecamp, ecamp.cell("rsna-cls", "finetune", 0.01), references)[0] is None
    benchx = load_recipe("benchx")
    found = [published_value(benchx, benchx.cell("nih-cxr14-cls", "finetune", f), references) for f in (0.01, 0.1, 1.0)]
    assert [v for v, _, _ in found] == pytest.approx([0.801, 0.835, 0.853])
    assert all(metric == "auc" and "BenchX" in source and "Table 1" in source for _, metric, source in found)
    assert published_value(benchx, benchx.cell("rsna-cls", "finetune", 0.01), references)[0] is None  # F1: not ours


def test_comparison_table_shows_the_published_value_beside_ours():
    from rich.console import Console

    from ecamp_bench.cli.reproduce import comparison_table
    from ecamp_bench.evaluation.recipes import load_recipe
    from ecamp_bench.sweep.runner import SweepSettings

    benchx = load_recipe("benchx")
    cells = [c for c in benchx.cells if c.task == "nih-cxr14-cls"]
    console = Console(record=True, width=400)
    console.print(comparison_table(benchx, cells, [], SweepSettings(recipe="benchx")))
    rows = [line for line in console.export_text().splitlines() if "nih-cxr14-cls" in line]
    assert len(rows) == 3 and all("BenchX" in row for row in rows)
    assert "0.801" in rows[0] and "0.835" in rows[1] and "0.853" in rows[2]


def test_published_lists_are_used_when_a_splits_root_is_given(tmp_path, monkeypatch):
    from ecamp_bench.cli.reproduce import choose_split
    from ecamp_bench.evaluation.recipes import load_recipe

    monkeypatch.delenv("ECAMP_BENCH_SPLITS", raising=False)
    ecamp = load_recipe("ecamp")
    assert choose_split(ecamp, tmp_path, our_splits=False)[0] == "ecamp"
    assert choose_split(ecamp, tmp_path, our_splits=True)[0] == "ours"
    assert choose_split(ecamp, None, our_splits=False)[0] == "ours"
    assert choose_split(load_recipe("mgca"), tmp_path, our_splits=False)[0] is None


def test_every_shipped_recipe_names_known_tasks_protocols_and_parameters():
    from ecamp_bench.evaluation.recipes import check_cell, load_recipe, recipe_names
    from ecamp_bench.plugins import get_catalog

    catalog = get_catalog()
    names = recipe_names()
    assert {"ecamp", "ecamp-lp", "mrm", "mgca", "benchx"} <= set(names)
    for recipe in map(load_recipe, names):
        assert recipe.cells and recipe.repo and len(recipe.commit) == 40
        for cell in recipe.cells:
            catalog.task(cell.task)
            check_cell(cell, catalog.protocol(cell.protocol).params, recipe)
            assert all(v.source for v in cell.values)
        for _, ours in recipe.task_names:
            catalog.task(ours)


@pytest.mark.slow
def test_eval_takes_a_recipe_and_the_record_carries_it(synthetic_tiny):
    import json

    from ecamp_bench.evaluation.recipes import load_recipe
    from ecamp_bench.paths import results_dir

    export_tiny_backbone()
    assert main(["eval", "--task", "rsna-cls", "--protocol", "finetune", "--fraction", "0.01", "--recipe", "mrm",
                 "--split", "ours", "--data-root", str(synthetic_tiny), "--preset", "tiny",
                 "--set", "protocol.steps=3", "--set", "eval.n_bootstrap=0"]) == 0
    (path,) = sorted((results_dir() / "runs").rglob("*.json"))
    resolved = json.loads(path.read_text())["config"]["resolved"]
    assert resolved["recipe"]["name"] == "mrm" and resolved["recipe"]["sha256"] == load_recipe("mrm").sha256
    assert resolved["protocol"]["warmup_steps"] == 5  # the tiny preset sits over the recipe's 50 (README.md:90)
    assert resolved["protocol"]["grad_clip"] == 1.0 and resolved["protocol"]["pooling"] == "mean"  # the recipe's


def test_dry_run_explains_a_zero_image_size_and_ends_with_a_summary(capsys):
    from ecamp_bench.cli import main

    assert main(["reproduce", "mgca", "--dry-run", "--tasks", "rsna-det", "--seeds", "0,1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "image_size = 0 (protocol default: not given by the source; 0 = the backbone's input size)" in out
    assert "dry run: 3 recipe cell(s) × 2 seed(s) = 6 evaluation(s) per backbone; nothing was run." in out
    assert out.endswith("Without --dry-run, pass --backbone.")
    assert main(["reproduce", "mgca", "--dry-run", "--tasks", "rsna-det", "--backbone", "random-init"]) == 0
    assert "pass --backbone" not in capsys.readouterr().out  # it was given
