"""``sweep --executor local``: real submitit jobs (subprocesses); same leaderboard as a plain sweep, a killed job is
resubmitted, a killed driver is resumed without running a cell twice, and ``--status`` reads it all back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir
from ecamp_bench.sweep.claims import read_holder

pytestmark = pytest.mark.slow
CODE = "import sys; from ecamp_bench.cli import main; sys.exit(main(sys.argv[1:]))"


def grid(root: Path, fractions: str = "0.1,1", seeds: str = "0") -> list[str]:
    return ["sweep", "--tasks", "rsna-cls", "--fractions", fractions, "--seeds", seeds, "--backbones", "random-init",
            "--preset", "tiny", "--data-root", str(root), "--set", "eval.n_bootstrap=20"]


def records() -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in sorted((results_dir() / "runs").rglob("*.json"))}


def ledgers() -> dict[str, dict]:
    folder = results_dir() / "jobs"
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")} if folder.is_dir() else {}


def wait_for(condition, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_cell_is_its_own_job_and_the_leaderboard_equals_a_plain_sweep(synthetic_tiny, tmp_path, monkeypatch,
                                                                            capsys):
    args = grid(synthetic_tiny)
    board = lambda out: out[out.index("# ecamp-bench leaderboard"):]  # noqa: E731
    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(tmp_path / "plain"))
    assert main(args) == 0
    assert main(["leaderboard", "--format", "md", "--no-write"]) == 0
    plain = board(capsys.readouterr().out)

    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(tmp_path / "jobs"))
    assert main([*args, "--executor", "local", "--poll", "0.5"]) == 0
    assert "sweep: 2 run, 0 already done, 0 failed" in capsys.readouterr().out
    assert main(["leaderboard", "--format", "md", "--no-write"]) == 0
    assert board(capsys.readouterr().out) == plain

    jobs = ledgers()
    assert len(jobs) == 2 and all(len(j["jobs"]) == 1 for j in jobs.values())
    assert len({j["jobs"][0]["job_id"] for j in jobs.values()}) == 2  # one submitit job per cell
    recs = records()
    assert {r["run_key"] for r in recs.values()} == set(jobs)
    first, second = sorted(jobs.values(), key=lambda j: j["jobs"][0]["submitted_at"])
    assert second["jobs"][0]["submitted_at"] >= Path(first["record"]).stat().st_mtime  # after the cache was filled
    assert all(r["env"]["device"] == "cpu" for r in recs.values())  # --device auto on a machine without CUDA

    assert main([*args, "--status"]) == 0
    out = capsys.readouterr().out
    assert "done 2 · running 0 · queued 0 · failed 0 · pending 0" in out


def test_a_killed_job_is_resubmitted(synthetic_tiny):
    args = [*grid(synthetic_tiny, fractions="0.1"), "--executor", "local", "--poll", "0.3", "--retries", "1"]
    driver = subprocess.Popen([sys.executable, "-c", CODE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    claim = wait_for(lambda: next((results_dir() / "runs").rglob("*.claim"), None) if (results_dir() / "runs").is_dir()
                     else None, 240, "the job to claim its cell", driver)
    victim = read_holder(claim)
    os.kill(victim.pid, signal.SIGKILL)  # the job's process dies mid-cell (as on a node failure)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err[-3000:]
    assert "sweep: 1 run, 0 already done, 0 failed" in out
    (ledger,) = ledgers().values()
    assert [j["attempt"] for j in ledger["jobs"]] == [1, 2]
    assert ledger["jobs"][0]["job_id"] == victim.job_id
    (record,) = records().values()
    assert record["status"] == "ok"


def test_a_sweep_resumed_after_its_driver_was_killed_runs_no_cell_twice(synthetic_tiny, capsys):
    args = [*grid(synthetic_tiny), "--executor", "local", "--poll", "0.3", "--max-running", "1"]
    driver = subprocess.Popen([sys.executable, "-c", CODE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    wait_for(lambda: ledgers(), 240, "the first submission", driver)
    driver.send_signal(signal.SIGKILL)  # the driver dies; its submitted job goes on
    driver.communicate()
    assert main([*args, "--status"]) == 0
    status = capsys.readouterr().out
    assert "running 1" in status or "done 1" in status, status  # the orphaned job is seen through its claim or record

    assert main(args) == 0
    import re

    summary = re.search(r"sweep: (\d+) run, (\d+) already done, 0 failed", capsys.readouterr().out)
    assert summary and int(summary.group(1)) + int(summary.group(2)) == 2
    recs = records()
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs.values())
    jobs = ledgers()
    assert sorted(len(j["jobs"]) for j in jobs.values()) == [1, 1]  # the first cell's job was adopted, not resubmitted


def test_a_groups_first_cell_runs_before_the_others_unless_whole_groups_are_jobs():
    from ecamp_bench.sweep.executor import ExecutorSweep
    from ecamp_bench.sweep.grid import Cell
    from ecamp_bench.sweep.runner import CellResult, CellState

    group = [CellResult(Cell("rsna-cls", "linear", "random-init", f, 0)) for f in (0.01, 0.1, 1.0)]
    driver = ExecutorSweep.__new__(ExecutorSweep)
    driver.jobs = "cell"
    assert driver._ready(group) == group[:1]  # the first cell fills the feature cache
    group[0].state = CellState.RUNNING
    assert driver._ready(group) == []
    group[0].state = CellState.OK
    assert driver._ready(group) == group[1:]  # then the others, together
    driver.jobs = "group"
    group[0].state = CellState.PENDING
    assert driver._ready(group) == group  # one job for the whole group
    group[2].state = CellState.RUNNING
    assert driver._ready(group) == []
