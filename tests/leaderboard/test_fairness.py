"""Fairness/calibration/cost tables of the leaderboard and the HTML report, from records alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _records import fake_record
from ecamp_bench.leaderboard.fairness import TOO_SMALL, cost_markdown, cost_rows, fairness_markdown, fairness_tables
from ecamp_bench.results.record import read_record, record_from_json, write_record


def _metric(name, value, hib=True):
    return {"name": name, "value": value, "higher_is_better": hib, "ci95": None, "n": 100}


def _write(folder: Path, backbone: str, seed: int, auc_f: float | None, png: bool = True) -> Path:
    metrics = [
        _metric("auc", 0.8),
        _metric("auc/A", 0.8),
        _metric("auc[sex=F]", auc_f),
        _metric("auc[sex=M]", 0.85),
        _metric("auc_gap[sex]", None if auc_f is None else 0.85 - auc_f, False),
        _metric("auc_gap_p[sex]", 0.01 * (seed + 1)),
        _metric("auc[age=80+]", None),
        _metric("ece", 0.1, False),
        _metric("brier", 0.2, False),
    ]
    rec = fake_record(
        task={"name": "chexpert-cls", "version": 1},
        seed=seed,
        run_key=f"{backbone}{seed:014d}"[-16:],
        backbone={"name": backbone, "arch": "vit", "weights_ref": None, "weights_sha256": None},
        metrics=metrics,
    )
    rec["cost"] = {"params": 5_000_000, "gflops": 1.25, "images_per_s": 40.0, "device": "cpu", "input_size": 224}
    path = folder / "runs" / "chexpert-cls" / backbone / f"{rec['run_key']}.json"
    write_record(record_from_json(rec), path)
    if png:
        path.with_suffix(".reliability.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    return path


def test_fairness_table_means_too_small_and_max_p(tmp_path):
    from ecamp_bench.results.store import scan

    _write(tmp_path, "a", 0, 0.70)
    _write(tmp_path, "a", 1, 0.60)
    _write(tmp_path, "b", 0, None)
    (table,) = fairness_tables(scan(tmp_path).records)
    assert table.task == "chexpert-cls" and table.columns[:5] == [
        "auc",
        "auc[sex=F]",
        "auc[sex=M]",
        "auc_gap[sex]",
        "auc_gap_p[sex]",
    ]
    assert table.columns[-2:] == ["ece", "brier"] and "auc/A" not in table.columns
    text = fairness_markdown([table])
    row_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    row_b = next(line for line in text.splitlines() if line.startswith("| b |"))
    assert "0.650" in row_a and "0.02" in row_a  # mean of 0.70 and 0.60; largest p over the two seeds
    assert TOO_SMALL in row_b and row_b.count(TOO_SMALL) == 2  # auc[sex=F] and auc[age=80+], never a number
    assert table.rows[0].reliability is not None and table.rows[0].reliability.name.endswith(".reliability.png")


def test_cost_table(tmp_path):
    from ecamp_bench.results.store import scan

    _write(tmp_path, "a", 0, 0.7)
    (row,) = cost_rows(scan(tmp_path).records)
    assert row.params == 5_000_000 and row.gflops == 1.25
    assert "| a | vit | cpu | 5.00 | 1.25 | 40.0 |" in cost_markdown([row])


def test_html_report_shows_fairness_table_and_reliability_diagram(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from ecamp_bench.evaluation.calibration import write_reliability_diagram
    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.leaderboard.html import build_report

    path = _write(tmp_path, "a", 0, 0.7, png=False)
    rng = np.random.default_rng(0)
    p = rng.random((50, 1))
    write_reliability_diagram(
        Predictions(tuple(map(str, range(50))), (rng.random((50, 1)) < p).astype(float), p, ("A",)),
        path.with_suffix(".reliability.png"),
    )
    html, _ = build_report(tmp_path, cost=True)
    assert "Fairness and calibration" in html and "auc[sex=F]" in html and "reliability: a" in html
    assert html.count("data:image/png;base64,") >= 1 and "GFLOPs / image" in html


def test_compare_on_a_subgroup_key(tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    from ecamp_bench.cli import main
    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.evaluation.predictions import save_predictions
    from ecamp_bench.evaluation.subgroups import subgroup_values

    rng = np.random.default_rng(0)
    y = (rng.random((300, 1)) < 0.4).astype(float)
    sex = np.array(["F", "M"] * 150)
    extras = {"demo_sex": sex, "subgroup_metric": np.array(["auc"])}
    for backbone, signal in (("a", 2.0), ("b", 0.2)):
        path = _write(tmp_path, backbone, 0, 0.7)
        preds = Predictions(tuple(map(str, range(300))), y, rng.random((300, 1)) + signal * y, ("A",), extras)
        save_predictions(preds, path.with_suffix(".predictions.npz"))
        values = subgroup_values(preds)
        rec = read_record(path)
        fn = "ecamp_bench.evaluation.subgroups:subgroup_values"
        metrics = tuple(
            replace(m, value=values[m.name], paired_test="bootstrap", value_fn=fn) if m.name in values else m
            for m in rec.metrics
        )
        write_record(rec.replace(metrics=metrics), path)
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "250")
    args = ["--task", "chexpert-cls", "--fraction", "0.01", "--metric", "auc[sex=F]", "--results", str(tmp_path)]
    assert main(["compare", "a", "b", *args, "--n-bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "auc[sex=F]" in out and "paired bootstrap" in out


def test_terminal_sections_are_tables_with_one_legend_each(tmp_path):
    from rich.console import Console

    from ecamp_bench.leaderboard.fairness import rich_sections
    from ecamp_bench.results.store import scan

    _write(tmp_path, "a", 0, 0.70)
    _write(tmp_path, "b", 0, None)
    records = scan(tmp_path).records
    console = Console(width=200, record=True)
    for part in rich_sections(fairness_tables(records), cost_rows(records)):
        console.print(part)
    out = console.export_text()
    assert "fairness and calibration: chexpert-cls" in out and "┃ backbone" in out and TOO_SMALL in out
    assert out.count("Means over seeds; too small") == 1 and out.count("GFLOPs counted by") == 1
    assert "`" not in out and not [line for line in out.splitlines() if line.startswith("|")]
