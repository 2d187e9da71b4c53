"""The leaderboard groups runs by what was actually run, and renders from a results folder alone."""

from __future__ import annotations

import shutil
import sys

import numpy as np

from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.predictions import save_predictions
from ecamp_bench.leaderboard.aggregate import pivot
from ecamp_bench.leaderboard.html import build_report
from ecamp_bench.leaderboard.render import to_markdown
from ecamp_bench.results.record import predictions_path, write_record
from ecamp_bench.results.store import scan, tidy_rows

from _records import fake_record


def _write(results, key: str, *, backbone: str = "file:vit", weights: str | None = "a" * 64, value: float = 0.7,
           seed: int = 0, resolved: dict | None = None, arch: str = "vit") -> None:
    record = fake_record(
        run_key=key, seed=seed,
        backbone={"name": backbone, "arch": arch, "weights_ref": None, "weights_sha256": weights},
        config={"resolved": resolved or {"preset": "default"}, "sha256": "c" * 64},
        metrics=[{"name": "auc", "value": value, "higher_is_better": True, "ci95": None, "n": 10}],
    )
    write_record(record, results / "runs" / "rsna-cls" / backbone.replace(":", "--") / f"{key}.json")


def _table(results):
    (table,) = pivot(tidy_rows(scan(results))).tables
    return table


def test_one_name_with_two_weights_is_two_labelled_rows(tmp_path):
    _write(tmp_path, "k1", weights="a" * 64, value=0.6)
    _write(tmp_path, "k2", weights="b" * 64, value=0.9)
    table = _table(tmp_path)
    assert table.backbones == ["file:vit [weights aaaaaaaa]", "file:vit [weights bbbbbbbb]"]
    assert [table.cells[(b, 0)].mean for b in table.backbones] == [0.6, 0.9]  # never averaged to 0.75
    assert all(table.cells[(b, 0)].n == 1 for b in table.backbones)


def test_same_identity_seeds_average_and_a_rerun_supersedes(tmp_path):
    _write(tmp_path, "s0", seed=0, value=0.6)
    _write(tmp_path, "s1", seed=1, value=0.8)
    table = _table(tmp_path)
    assert table.backbones == ["file:vit"] and table.cells[("file:vit", 0)].n == 2
    assert abs(table.cells[("file:vit", 0)].mean - 0.7) < 1e-12


def test_random_init_names_its_architecture_and_splits_by_config(tmp_path):
    small = {"preset": "default",
             "backbone": {"arch": "vit_tiny_patch16_224", "input_size": 64, "model_kwargs": {"depth": 2}}}
    large = {"preset": "default",
             "backbone": {"arch": "vit_tiny_patch16_224", "input_size": 96, "model_kwargs": {"depth": 2}}}
    _write(tmp_path, "r1", backbone="random-init", weights=None, resolved=small, value=0.55)
    _write(tmp_path, "r2", backbone="random-init", weights=None, resolved=large, value=0.65)
    labels = _table(tmp_path).backbones
    assert len(labels) == 2
    assert labels[0].startswith("random-init(vit_tiny_patch16_224 depth=2 64px) [config ")
    assert labels[1].startswith("random-init(vit_tiny_patch16_224 depth=2 96px) [config ")


def _add_seg_run(results, backbone: str, seed: int, quality: float, preset: str = "default", *, n: int = 40,
                 split_sha256: str = "s" * 64, finished_at: str = "2025-01-01T00:00:01Z") -> None:
    """A segmentation run with a bootstrap-tested metric (value_fn in the record) and saved masks (``n`` test
    images on the split ``split_sha256``)."""
    rng = np.random.default_rng(seed)
    truth = (np.random.default_rng(3).random((n, 8, 8)) < 0.3).astype(np.uint8)
    flip = rng.random(truth.shape) > quality
    masks = np.where(flip, 1 - truth, truth).astype(np.uint8)
    from ecamp_bench.evaluation.seg_metrics import metric_values

    preds = Predictions(tuple(f"i{i}" for i in range(n)), truth, masks, ("Foreground",))
    value = metric_values(preds)["dice_per_image"]
    key = f"seg{backbone.replace(':', '')}{seed}{preset}{split_sha256[0]}"
    record = fake_record(
        run_key=key, seed=seed, schema_version=2, task={"name": "toy-seg", "version": 1},
        split={"manifest": "m.json", "sha256": split_sha256, "n_train": 1, "n_val": 1, "n_test": n},
        timing={"started_at": "2025-01-01T00:00:00Z", "finished_at": finished_at, "wall_time_s": 1.0},
        config={"resolved": {"preset": preset}, "sha256": "c" * 64},
        protocol={"name": "frozen-seg", "version": 1}, primary_metric="dice_per_image",
        backbone={"name": backbone, "arch": "vit", "weights_ref": None, "weights_sha256": backbone * 8},
        dataset={"layout": "toy", "root": str(results / "no-such-data"), "synthetic": True, "n_images": n,
                 "synthetic_marker": {"generator_version": 3, "preset": "tiny", "seed": 0}},
        metrics=[{"name": "dice_per_image", "value": value, "higher_is_better": True, "ci95": None, "n": 40,
                  "paired_test": "bootstrap", "value_fn": "ecamp_bench.evaluation.seg_metrics:metric_values"}],
    )
    path = results / "runs" / "toy-seg" / backbone.replace(":", "--") / f"{key}.json"
    write_record(record, path)
    save_predictions(preds, predictions_path(path))


def test_report_renders_from_a_copied_results_folder_without_data_or_task_plugins(tmp_path, monkeypatch):
    original = tmp_path / "original"
    for seed in (0, 1, 2):  # a mark needs 3 training runs
        _add_seg_run(original, "good", seed, 0.97)
        _add_seg_run(original, "poor", seed, 0.6)
    copied = tmp_path / "elsewhere" / "results"
    shutil.copytree(original, copied)
    shutil.rmtree(original)
    for name in [m for m in sys.modules if m.startswith("ecamp_bench_plugins")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ecamp_bench_plugins", None)  # any plugin import now fails
    html, _ = build_report(copied, None, n_bootstrap=100)
    assert "toy-seg" in html and "SYNTHETIC (generator v3, size tiny, seed 0)" in html
    assert html.count("†</td>") == 1  # the paired bootstrap ran from the records' value_fn and saved masks
    assert "| good |" in to_markdown(pivot(tidy_rows(scan(copied))))


def test_compare_uses_the_records_paired_test_and_refuses_mixed_identities(tmp_path, capsys):
    from ecamp_bench.cli import main

    for seed in (0, 1):
        _add_seg_run(tmp_path, "good", seed, 0.97)
        _add_seg_run(tmp_path, "poor", seed, 0.6)
    assert main(["compare", "good", "poor", "--task", "toy-seg", "--fraction", "1%", "--results", str(tmp_path),
                 "--n-bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "frozen-seg (preset default) seed 1: A = good, B = poor" in out and "paired" in out
    _write(tmp_path, "x1", weights="a" * 64)
    _write(tmp_path, "x2", weights="b" * 64, seed=1)
    _write(tmp_path, "y1", backbone="random-init", weights=None)
    _write(tmp_path, "y2", backbone="random-init", weights=None, seed=1)
    assert main(["compare", "file:vit", "random-init", "--task", "rsna-cls", "--fraction", "1%", "--results",
                 str(tmp_path)]) != 0
    assert "names 2 different runs" in capsys.readouterr().err


def test_compare_without_task_summarises_every_shared_cell_with_a_verdict(tmp_path, capsys):
    from ecamp_bench.cli import main

    for seed in (0, 1, 2):
        _add_seg_run(tmp_path, "good", seed, 0.97)
        _add_seg_run(tmp_path, "poor", seed, 0.6)
    _add_seg_run(tmp_path, "poor", 3, 0.6)  # a seed only B has: left out of the pairing
    assert main(["compare", "good", "poor", "--results", str(tmp_path), "--n-bootstrap", "50", "--markdown"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("| toy-seg")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:6] == ["toy-seg", "frozen-seg", "default", "1%", "dice_per_image", "0,1,2"]
    assert float(cells[8]) > 0.2 and cells[10] == "A"  # good beats poor on all three seeds
    assert main(["compare", "poor", "good", "--results", str(tmp_path), "--n-bootstrap", "50", "--markdown"]) == 0
    assert "| B |" in capsys.readouterr().out
    assert main(["compare", "good", "nobody", "--results", str(tmp_path)]) != 0
    assert "share no" in capsys.readouterr().err


def test_compare_keeps_presets_apart_and_asks_for_one_where_a_cell_has_several(tmp_path, capsys):
    from ecamp_bench.cli import main

    for preset, (good, poor) in {"tiny": (0.6, 0.97), "cpu-demo": (0.97, 0.6)}.items():  # opposite verdicts
        for seed in (0, 1, 2):
            _add_seg_run(tmp_path, "good", seed, good, preset)
            _add_seg_run(tmp_path, "poor", seed, poor, preset)
    assert main(["compare", "good", "poor", "--results", str(tmp_path), "--n-bootstrap", "50", "--markdown"]) == 0
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| toy-seg")]
    assert sorted((row[2], row[10]) for row in rows) == [("cpu-demo", "A"), ("tiny", "B")]
    single = ["compare", "good", "poor", "--task", "toy-seg", "--fraction", "1%", "--results", str(tmp_path),
              "--n-bootstrap", "50"]
    assert main(single) != 0
    assert "presets ['cpu-demo', 'tiny']; pass --preset" in capsys.readouterr().err
    assert main([*single, "--preset", "cpu-demo"]) == 0
    assert "frozen-seg (preset cpu-demo) seed 0" in capsys.readouterr().out


def test_compare_takes_timm_names_in_either_spelling_and_suggests_known_backbones(tmp_path, capsys):
    from ecamp_bench.cli import main

    _add_seg_run(tmp_path, "timm:vit-small-patch16-224", 0, 0.9)
    _add_seg_run(tmp_path, "random-init", 0, 0.6)
    for spelling in ("timm:vit_small_patch16_224", "timm:vit-small-patch16-224"):
        args = ["compare", spelling, "random-init", "--task", "toy-seg", "--fraction", "1%", "--results",
                str(tmp_path), "--n-bootstrap", "20"]
        assert main(args) == 0, capsys.readouterr().err
        capsys.readouterr()
    assert main(["compare", "timm:vit_smal_patch16_224", "random-init", "--results", str(tmp_path)]) != 0
    assert "did you mean 'timm:vit-small-patch16-224'?" in capsys.readouterr().err


def test_a_truncated_predictions_file_is_a_named_error_in_compare_and_leaderboard(tmp_path, capsys, monkeypatch):
    from ecamp_bench.cli import main

    for seed in (0, 1, 2):
        _add_seg_run(tmp_path, "good", seed, 0.97)
        _add_seg_run(tmp_path, "poor", seed, 0.6)
    (victim,) = [p for p in tmp_path.rglob("*.predictions.npz") if p.name.startswith("segpoor1")]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    assert main(["compare", "good", "poor", "--task", "toy-seg", "--fraction", "1%", "--results", str(tmp_path),
                 "--n-bootstrap", "20"]) == 2
    err = capsys.readouterr().err
    assert f"{victim}: unreadable predictions file" in err.replace("\n", "") and "Traceback" not in err
    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(tmp_path))
    assert main(["leaderboard", "--format", "html"]) == 2
    assert f"{victim}: unreadable predictions file" in capsys.readouterr().err.replace("\n", "")


def test_a_cell_with_fewer_than_3_training_runs_states_no_verdict(tmp_path, capsys, monkeypatch):
    """One training run's paired test resamples test images only: compare, leaderboard and HTML say so."""
    from ecamp_bench.cli import main

    _add_seg_run(tmp_path, "good", 0, 0.97)  # p is tiny on this one seed, but a retraining could flip it
    _add_seg_run(tmp_path, "poor", 0, 0.6)
    assert main(["compare", "good", "poor", "--results", str(tmp_path), "--n-bootstrap", "50", "--markdown"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| toy-seg")]
    assert [c.strip() for c in row.strip("|").split("|")][10] == "one training run, not significant by design"
    assert main(["compare", "good", "poor", "--task", "toy-seg", "--fraction", "1%", "--results", str(tmp_path),
                 "--n-bootstrap", "50"]) == 0
    assert "one training run, not significant by design" in capsys.readouterr().out.replace("\n", " ")
    _add_seg_run(tmp_path, "good", 1, 0.97)
    _add_seg_run(tmp_path, "poor", 1, 0.6)
    assert main(["compare", "good", "poor", "--results", str(tmp_path), "--n-bootstrap", "50", "--markdown"]) == 0
    assert "| 2 training runs (< 3), not significant by design |" in capsys.readouterr().out
    md = to_markdown(pivot(tidy_rows(scan(tmp_path))))
    assert "(n=2)‡" in md and "fewer than 3 training runs (seeds): not significant by design" in md
    html, _ = build_report(tmp_path, None, n_bootstrap=50)
    assert "†</td>" not in html and "not significant by design" in html


def test_compare_pairs_each_seed_on_the_same_split_when_a_later_run_used_other_data(tmp_path, capsys):
    """A later run of one backbone on another data set (another split of the same cell and seed) does not hide the
    pair on the shared split: compare pairs runs whose split manifests are equal."""
    from ecamp_bench.cli import main

    for seed in (0, 1):
        _add_seg_run(tmp_path, "good", seed, 0.97)
        _add_seg_run(tmp_path, "poor", seed, 0.6)
    _add_seg_run(tmp_path, "good", 0, 0.97, n=12, split_sha256="t" * 64, finished_at="2025-02-01T00:00:00Z")
    args = ["compare", "good", "poor", "--task", "toy-seg", "--fraction", "1%", "--results", str(tmp_path),
            "--n-bootstrap", "50"]
    assert main(args) == 0, capsys.readouterr().err
    out = " ".join(capsys.readouterr().out.split())
    assert "seed 0: A = good, B = poor (n = 40 test images)" in out
    assert main(["compare", "good", "poor", "--results", str(tmp_path), "--n-bootstrap", "50", "--markdown"]) == 0
    captured = capsys.readouterr()
    summary = [line for line in captured.out.splitlines() if line.startswith("| toy-seg |")]
    assert len(summary) == 1 and "| 0,1 |" in summary[0]  # both seeds paired, seed 0 on the shared split
    assert "[compare: paired tests (cells)] 1/1 (100%)" in captured.err  # progress for a plain log
