"""A sweep killed half-way (SIGKILL) and restarted ends with exactly one ok record per grid cell;
a failing cell does not stop the sweep and makes the exit code 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _backbones import export_tiny_backbone
from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir

pytestmark = pytest.mark.slow


def records() -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in sorted((results_dir() / "runs").rglob("*.json"))}


def test_killed_sweep_resumes_to_exactly_one_record_per_cell(synthetic_tiny, capsys):
    weights = export_tiny_backbone("tiny", size=64, seed=123)
    args = ["sweep", "--tasks", "rsna-cls", "--fractions", "0.1,1", "--seeds", "0,1",
            "--backbones", f"random-init,file:{weights}", "--preset", "tiny", "--data-root", str(synthetic_tiny),
            "--set", "eval.n_bootstrap=20"]
    code = "import sys; from ecamp_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 150
    while len(records()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    before = records()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    assert 2 <= len(before) < 8, f"kill came too late or too early: {len(before)} records"

    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{8 - len(before)} run, {len(before)} already done, 0 failed" in out
    after = records()
    assert len(after) == 8 and all(r["status"] == "ok" for r in after.values())
    cells = {(r["backbone"]["name"], r["fraction"], r["seed"]) for r in after.values()}
    assert cells == {(b, f, s) for b in ("random-init", "file:tiny") for f in (0.1, 1.0) for s in (0, 1)}
    assert all(after[p] == rec for p, rec in before.items())  # the records from before the kill were kept as they were
    assert all(p.with_suffix(".predictions.npz").is_file() for p in after)

    assert main(args) == 0  # a third run has nothing left to do
    assert "0 run, 8 already done" in capsys.readouterr().out


def test_failed_cell_is_reported_and_sweep_continues(monkeypatch, capsys):
    from types import SimpleNamespace

    from ecamp_bench.evaluation.runner import RunOutcome
    from ecamp_bench.sweep import runner

    ran, prepared = [], []

    def fake_prepare(request, catalog, tables=None):
        prepared.append((request.fraction, request.seed))
        path = results_dir() / f"{request.backbone}-{request.fraction}-{request.seed}.json"
        return SimpleNamespace(request=request, path=path)

    def fake_run(plan, catalog, progress=None):
        request = plan.request
        ran.append((request.fraction, request.seed))
        if request.fraction == 0.1 and request.seed == 1:
            raise RuntimeError("boom on purpose")
        return RunOutcome(SimpleNamespace(primary_value=0.5), plan.path)

    monkeypatch.setattr(runner, "prepare_run", fake_prepare)
    monkeypatch.setattr(runner, "run_plan", fake_run)
    rc = main(["sweep", "--tasks", "rsna-cls", "--fractions", "0.1,1", "--seeds", "0,1", "--backbones", "random-init"])
    out = capsys.readouterr().out
    assert rc == 1
    assert sorted(ran) == [(0.1, 0), (0.1, 1), (1.0, 0), (1.0, 1)]  # the cell after the failure still ran
    assert sorted(prepared) == sorted(ran)  # each cell prepared exactly once, and that plan is the one run
    assert "3 run, 0 already done, 1 failed" in out
    assert "rsna-cls linear random-init 10% seed 1: RuntimeError: boom on purpose" in out


def test_unknown_backbone_fails_before_running(capsys):
    assert main(["sweep", "--tasks", "rsna-cls", "--backbones", "random-init,mrn"]) == 2
    assert "unknown backbone 'mrn'" in capsys.readouterr().err
