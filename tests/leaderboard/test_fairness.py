"""Fairness/calibration/cost tables of the leaderboard and the HTML report, from records alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from _records import fake_record
from ecamp_bench.leaderboard.fairness import TOO_SMALL, cost_markdown, cost_rows, fairness_markdown, fairness_tables
from ecamp_bench.results.record import read_record, record_from_json, write_record


def _metric(name, value, hib=True):
    return {"name": name, "value": value, "higher_is_better": hib, "ci95": None, "n": 100}


def _write(folder: Path, backbone: str, seed: int, auc_f: float | None, png: bool = True, *,
           split_base: str | None = None, run_key: str | None = None, finished_at: str | None = None) -> Path:
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
        run_key=run_key or f"{backbone}{seed:014d}"[-16:],
        backbone={"name": backbone, "arch": "vit", "weights_ref": None, "weights_sha256": None},
        metrics=metrics,
    )
    if split_base is not None:  # the seed-independent split: another data set
        rec["split"] = {**rec["split"], "base_sha256": split_base}
    if finished_at is not None:
        rec["timing"] = {**rec["timing"], "finished_at": finished_at}
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


def _cells(markdown: str, label: str) -> list[str]:
    """The cells of the fairness row whose label is ``label`` (exactly one)."""
    (line,) = [line for line in markdown.splitlines() if line.startswith(f"| {label} |")]
    return [c.strip() for c in line.strip("|").split(" | ")]


def test_fairness_rows_are_the_run_identities_of_the_main_tables(tmp_path):
    """A newer run of the same name, cell and seed on another data set (another split) is its own row, labelled as in
    the main table, and never replaces a seed of the original row (whose values stay those of its own runs)."""
    from ecamp_bench.leaderboard.aggregate import pivot
    from ecamp_bench.results.store import scan, tidy_rows

    _write(tmp_path, "a", 0, 0.70, split_base="1" * 64)
    _write(tmp_path, "a", 1, 0.60, split_base="1" * 64)
    alone = fairness_markdown(fairness_tables(scan(tmp_path).records))
    _write(tmp_path, "a", 0, 0.40, split_base="2" * 64, run_key="other-data-seed0", finished_at="2026-01-01T00:00:00Z")
    scanned = scan(tmp_path)
    (main,) = pivot(tidy_rows(scanned)).tables
    assert len(main.backbones) == 2 and all(label.startswith("a [task config ") for label in main.backbones)
    original, other = sorted(main.backbones, key=lambda label: "split 22222222" in label)
    (table,) = fairness_tables(scanned.records)
    assert [row.backbone for row in table.rows] == sorted(main.backbones)  # the main table's labels, one row each
    text = fairness_markdown([table])
    assert _cells(text, original)[1:] == _cells(alone, "a")[1:]  # the original runs' values, unchanged
    assert _cells(text, original)[2:4] == ["0.800", "0.650"] and _cells(text, other)[2:4] == ["0.800", "0.400"]
    assert table.rows[0].seeds == [0, 1] and table.rows[1].seeds == [0]
    assert fairness_markdown(fairness_tables(scanned.records, tidy_rows(scanned))) == text  # the caller's rows


def test_fairness_tables_keep_protocol_versions_apart(tmp_path):
    """Like the main tables, a protocol's versions are separate tables (named by version), never one row's seeds."""
    from ecamp_bench.results.store import scan

    for version, auc_f in ((1, 0.70), (2, 0.40)):
        path = _write(tmp_path, "a", 0, auc_f, run_key=f"protocol-v{version}-seed0")
        rec = read_record(path)
        write_record(rec.replace(protocol=replace(rec.protocol, version=version)), path)
    tables = fairness_tables(scan(tmp_path).records)
    assert [t.title for t in tables] == ["chexpert-cls — linear v1", "chexpert-cls — linear v2"]
    text = fairness_markdown(tables)
    assert [_cells(part, "a")[3] for part in text.split("### ")[1:]] == ["0.700", "0.400"]


def _leaderboard_terminal(results: Path, columns: int, monkeypatch, capsys) -> str:
    from ecamp_bench.cli import main

    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--no-write"]) == 0
    return capsys.readouterr().out


def test_terminal_leaderboard_prints_bracketed_headers_and_labels(tmp_path, monkeypatch, capsys):
    """Square brackets in the data (subgroup headers, labels of run identities) are text, not rich markup."""
    _write(tmp_path, "a", 0, 0.70, split_base="1" * 64)
    _write(tmp_path, "a", 0, 0.40, split_base="2" * 64, run_key="other-data-seed0")
    _write(tmp_path, "b", 0, 0.60)
    out = _leaderboard_terminal(tmp_path, 250, monkeypatch, capsys)
    for header in ("auc[sex=F]", "auc[sex=M]", "auc_gap[sex]", "auc_gap_p[sex]", "auc[age=80+]"):
        assert header in out
    assert out.count("[task config ") >= 4 and "split 11111111]" in out and "split 22222222]" in out


def test_terminal_leaderboard_keeps_long_backbone_labels_whole(tmp_path, monkeypatch, capsys):
    """At 120 columns a wide table still shows every backbone label whole (its metric columns fold instead)."""
    from ecamp_bench.results.record import record_from_json, write_record

    names = ("file:ecamp-cpu-demo-8862ba1a", "file:ecamp-cpu-demo-mae-only-2528b08f", "random-init")
    resolved = {"preset": "default", "backbone": {"arch": "vit_tiny_patch16_224", "input_size": 64,
                                                  "model_kwargs": {"depth": 4, "embed_dim": 96, "num_heads": 3}}}
    for n, name in enumerate(names):
        for t, task in enumerate(("chexpert-cls", "covidx-cls", "nih-cxr14-cls", "rsna-cls")):
            for f, fraction in enumerate((0.05, 0.2, 1.0)):
                rec = fake_record(
                    run_key=f"{n}{t}{f}".rjust(16, "0"), task={"name": task, "version": 1}, fraction=fraction,
                    backbone={"name": name, "arch": "vit", "weights_ref": None, "weights_sha256": None},
                    config={"resolved": resolved, "sha256": "c" * 64},
                    metrics=[_metric("auc", 0.5 + 0.01 * (n + t + f)), _metric("auc[sex=F]", 0.5)],
                )
                write_record(record_from_json(rec), tmp_path / "runs" / task / str(n) / f"{rec['run_key']}.json")
    for columns in (120, 200):
        out = _leaderboard_terminal(tmp_path, columns, monkeypatch, capsys)
        main_table, fairness = out.split("fairness and calibration: chexpert-cls")
        for part in (main_table, fairness):
            assert "file:ecamp-cpu-demo-8862ba1a " in part and "file:ecamp-cpu-demo-mae-only-2528b08f " in part
            assert "random-init(vit_tiny_patch16_224 " in part
        assert "…" not in out and max(len(line) for line in out.splitlines()) <= columns
