"""Processes: SIGKILL + --resume equals an uninterrupted run; two gloo ranks end with identical weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from _pretrain_tiny import tiny_pairs

from ecamp_bench.text.tokenizer import save_tokenizer, train_wordpiece

WORKER = Path(__file__).parent / "_pretrain_worker.py"


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []


def _straight_and_killed(tmp_path, *flags: str, env=lambda run: _env()) -> None:
    """Train run ``straight`` without interruption and run ``killed`` (SIGKILL after its step-2 checkpoint, then
    ``--resume``) side by side with the worker's ``flags``; ``env(run)`` is each run's environment."""
    pairs = tiny_pairs(tmp_path / "pairs")
    tokenizer = train_wordpiece([p.report for p in pairs] + ["Entity context: effusion present."], 300, 1)
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")

    def cmd(run, *extra):
        return [sys.executable, str(WORKER), str(tmp_path / run), str(tmp_path / "pairs"), str(tmp_path / run),
                "--tokenizer", str(tmp_path / "tokenizer.json"), *flags, *extra]

    straight = subprocess.Popen(cmd("straight"), env=env("straight"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    victim = subprocess.Popen(cmd("killed", "--sleep", "1.5"), env=env("killed"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 120
    while not (checkpoints / "ckpt-00000002.pt").exists():
        assert victim.poll() is None and time.monotonic() < deadline, victim.stdout.read().decode()
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (checkpoints / "ckpt-00000006.pt").exists(), "the run finished before the kill"
    resumed = subprocess.run(cmd("killed", "--resume"), env=env("killed"), capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert straight.wait(timeout=180) == 0, straight.stdout.read().decode()


@pytest.mark.slow
def test_sigkill_then_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    _straight_and_killed(tmp_path)
    _assert_same(_weights(tmp_path / "straight-rank0.pt"), _weights(tmp_path / "killed-rank0.pt"))


@pytest.mark.slow
def test_kill_resume_export_is_byte_identical_to_the_uninterrupted_export_in_another_folder(tmp_path):
    """The export is a function of weights and config: not of the run folder, the output folder, the kill or the
    probe rows a resumed run adds (they go to the run folder's export.json)."""
    import hashlib

    def exports_to(run: str) -> dict:  # each run exports into its own pretrained/ folder
        return {**_env(), "ECAMP_BENCH_PRETRAINED": str(tmp_path / f"out-{run}")}

    _straight_and_killed(tmp_path, "--export", env=exports_to)
    (a,), (b,) = (list((tmp_path / f"out-{run}").glob("*.safetensors")) for run in ("straight", "killed"))
    assert a.name == b.name
    assert hashlib.sha256(a.read_bytes()).hexdigest() == hashlib.sha256(b.read_bytes()).hexdigest()
    steps = [[row["step"] for row in json.loads((tmp_path / run / "export.json").read_text())["probe"]]
             for run in ("straight", "killed")]
    assert steps[0] == [0, 2, 4, 6] and set(steps[1]) >= set(steps[0])  # history differs only outside the weights


@pytest.mark.slow
@pytest.mark.ddp
def test_two_gloo_ranks_hold_identical_weights_after_training(tmp_path):
    tiny_pairs(tmp_path / "pairs")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           str(tmp_path / "run"), str(tmp_path / "pairs"), str(tmp_path / "ddp")]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rank0, rank1 = _weights(tmp_path / "ddp-rank0.pt"), _weights(tmp_path / "ddp-rank1.pt")
    _assert_same(rank0, rank1)
    assert (tmp_path / "run" / "sr_windows.json").is_file()  # windows gathered from both ranks
    initial = torch.load(sorted((tmp_path / "run" / "checkpoints").iterdir())[-1], weights_only=True)
    assert initial["step"] == 3  # 16 pairs / 2 ranks / (batch 4 × accum 2) = 1 step per epoch, 3 epochs
