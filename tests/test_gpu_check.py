"""benchmarks/gpu_check.sh fails loudly, before doing anything else, where torch sees no GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the check would run")
def test_gpu_check_stops_at_once_without_cuda(tmp_path):
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path / "out")},
                          timeout=300)
    assert done.returncode == 1
    assert ("[gpu_check] FATAL: CUDA is not available to torch" in done.stderr
            and "this check needs a GPU" in done.stderr)
    assert not (tmp_path / "out" / "results").exists() and "===" not in done.stdout


def test_help_prints_the_usage_and_an_unknown_argument_starts_nothing(tmp_path):
    script = str(REPO / "benchmarks" / "gpu_check.sh")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path / "out")}
    shown = subprocess.run(["bash", script, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0 and "Usage: benchmarks/gpu_check.sh" in shown.stdout
    wrong = subprocess.run(["bash", script, "--whels", "x"], capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode == 2 and "unknown argument '--whels'" in wrong.stderr
    assert not (tmp_path / "out").exists()
