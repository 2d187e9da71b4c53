"""Leaderboard aggregation and rendering: mean/std/n, protocol separation, best bold, corrupt files skipped."""

from __future__ import annotations

import csv
import io
import json
import statistics

from ecamp_bench.cli import main
from ecamp_bench.leaderboard.aggregate import pivot
from ecamp_bench.leaderboard.render import to_csv, to_markdown
from ecamp_bench.results.record import write_record
from ecamp_bench.results.store import scan, tidy_rows

from _records import fake_record


def write(results, protocol, backbone, seed, value, fraction=0.01, task="rsna-cls", key=None):
    record = fake_record(
        protocol={"name": protocol, "version": 1},
        backbone={"name": backbone, "arch": "vit", "weights_ref": None, "weights_sha256": None}, seed=seed,
        fraction=fraction, task={"name": task, "version": 1}, run_key=key or f"{protocol}{backbone}{seed}{fraction}",
        metrics=[
            {"name": "auc", "value": value, "higher_is_better": True, "ci95": None, "n": 10},
            {"name": "loss", "value": 1.0, "higher_is_better": False, "ci95": None, "n": 10},
        ],
    )
    write_record(record, results / "runs" / task / backbone / f"{record['run_key']}.json")


def populate(results):
    for seed, value in enumerate([0.70, 0.74, 0.78]):
        write(results, "linear", "ecamp", seed, value)
    for seed, value in enumerate([0.60, 0.62]):
        write(results, "linear", "random-init", seed, value)
    write(results, "finetune", "ecamp", 0, 0.99)
    write(results, "linear", "ecamp", 0, 0.80, fraction=0.1)


def test_pivot_mean_std_n_and_protocol_separation(tmp_path):
    populate(tmp_path)
    result = pivot(tidy_rows(scan(tmp_path)))
    assert [t.protocol for t in result.tables] == ["finetune", "linear"]
    linear = result.tables[1]
    assert [c.label for c in linear.columns] == ["rsna-cls 1% auc ↑", "rsna-cls 10% auc ↑"]
    cell = linear.cells[("ecamp", 0)]
    assert cell.n == 3 and abs(cell.mean - 0.74) < 1e-12
    assert abs(cell.std - statistics.stdev([0.70, 0.74, 0.78])) < 1e-12
    assert cell.best and not cell.short
    random = linear.cells[("random-init(vit)", 0)]
    assert random.n == 2 and random.short and not random.best
    assert result.tables[0].cells[("ecamp", 0)].mean == 0.99  # finetune never averaged with linear


def test_markdown_and_csv(tmp_path):
    populate(tmp_path)
    rows = tidy_rows(scan(tmp_path))
    md = to_markdown(pivot(rows))
    assert "### linear v1" in md and "### finetune v1" in md
    assert "| ecamp | **0.740 ± 0.040 (n=3)** | 0.800 (n=1)*‡ |" in md  # one run is never marked best
    assert "| random-init(vit) | 0.610 ± 0.014 (n=2)*‡ | — |" in md
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == 2 * 7 and {r["metric"] for r in parsed} == {"auc", "loss"}


def test_cli_leaderboard_skips_corrupt_files_and_writes_outputs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(tmp_path))
    populate(tmp_path)
    (tmp_path / "runs" / "rsna-cls" / "ecamp" / "zz-corrupt.json").write_text("{oops")
    (tmp_path / "runs" / "foreign.json").write_text(json.dumps({"a": 1}))
    assert main(["leaderboard", "--format", "md"]) == 0
    out, err = capsys.readouterr()
    assert "0.740 ± 0.040 (n=3)" in out
    assert "zz-corrupt.json" in err and "foreign.json" in err
    assert (tmp_path / "leaderboard.md").read_text() == out
    assert (tmp_path / "leaderboard.csv").read_text().startswith("protocol,protocol_version,preset,task")
    assert main(["leaderboard"]) == 0  # rich
    assert "random-init" in capsys.readouterr().out


def test_plot_legend_with_a_long_label_stays_off_the_axes():
    from ecamp_bench.leaderboard.aggregate import Cell, Column, LeaderboardTable
    from ecamp_bench.leaderboard.plots import plot_figure

    long = "random-init(vit_tiny_patch16_224 depth=4 embed_dim=192 num_heads=3 patch_size=8 64px)"
    columns = [Column("rsna-cls", 1, f, "auc", True) for f in (0.01, 0.1, 1.0)]
    cells = {(b, i): Cell(0.6 + 0.1 * i, 0.01, 3, [0, 1, 2]) for b in (long, "file:ecamp") for i in range(3)}
    table = LeaderboardTable("linear", 1, "default", columns, [long, "file:ecamp"], cells, 3)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = plot_figure(table, "rsna-cls", 1, "auc")
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    axes, renderer = figure.axes[0], canvas.get_renderer()
    assert not axes.get_legend().get_window_extent(renderer).overlaps(axes.get_window_extent(renderer))
    assert all(len(line) <= 48 for text in axes.get_legend().get_texts() for line in text.get_text().splitlines())
