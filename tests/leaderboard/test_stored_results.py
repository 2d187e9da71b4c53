"""A results folder written by an earlier ecamp-bench (schema 2, tests/fixtures/results_schema2: 10 records of
rsna-cls and covidx-cls with their predictions, and the leaderboard that version rendered) keeps loading, and its
leaderboard stays byte-identical apart from one deliberate change: a mean over a single run is no longer marked
best (the legend says so)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ecamp_bench.cli import main
from ecamp_bench.results.record import read_record

STORED = Path(__file__).resolve().parents[1] / "fixtures" / "results_schema2"


def test_stored_schema2_results_load_and_render_the_same_leaderboard(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    shutil.copytree(STORED / "runs", results / "runs")
    records = [read_record(p) for p in sorted((results / "runs").rglob("*.json"))]
    assert len(records) == 10 and {r.schema_version for r in records} == {2}
    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(results))
    assert main(["leaderboard", "--format", "md"]) == 0
    capsys.readouterr()
    then = (STORED / "expected-leaderboard.md").read_text()
    now = then.replace("bold = best per column.", "bold = best per column (among means over 2 or more seeds).")
    now = re.sub(r"\*\*([0-9.]+ \(n=1\))\*\*", r"\1", now)  # single runs lose their bold
    assert now != then and _without_additions((results / "leaderboard.md").read_text()) == now
    expected_csv = (STORED / "expected-leaderboard.csv").read_text().replace("{results}", str(results))
    assert _without_new_columns((results / "leaderboard.csv").read_text()) == expected_csv


def _without_additions(markdown: str) -> str:
    """The leaderboard less what later features add to an old folder's table: the ‡ mark of cells with fewer than
    3 training runs and its footnote."""
    lines = [line for line in markdown.split("\n") if not line.startswith("‡ ")]
    text = "\n".join(lines).replace("‡", "")
    return text.replace("\n\n\n", "\n\n").rstrip("\n") + "\n"


NEW_CSV_COLUMNS = ("recipe",)  # columns later versions add to the tidy CSV (empty for these old records)


def _without_new_columns(text: str) -> str:
    """The tidy CSV less :data:`NEW_CSV_COLUMNS`, each checked to be empty for every old record."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    drop = [rows[0].index(name) for name in NEW_CSV_COLUMNS if name in rows[0]]
    assert all(row[i] == "" for row in rows[1:] for i in drop)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[c for i, c in enumerate(row) if i not in drop] for row in rows])
    return out.getvalue()


def test_terminal_leaderboard_explains_its_marks_and_draws_tables_not_markdown(tmp_path, monkeypatch):
    import subprocess
    import sys

    results = tmp_path / "results"
    shutil.copytree(STORED / "runs", results / "runs")
    env = {**__import__("os").environ, "ECAMP_BENCH_RESULTS": str(results), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "ecamp_bench.cli", "leaderboard", "--no-write"], env=env,
                          capture_output=True, text=True, check=True)
    out = done.stdout
    assert "‡" in out and out.count("‡ fewer than 3 training runs") == 1  # the mark, and its legend once
    assert not [line for line in out.splitlines() if line.startswith("|")]  # no markdown pipe rows
    assert "linear v1 (preset tiny)" in out and "━" in out
