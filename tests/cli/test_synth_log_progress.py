"""`ecamp-bench data synth` into a plain log prints progress lines while it runs (not only a table at the end)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_data_synth_writes_plain_progress_lines_to_a_log(tmp_path):
    exe = str(Path(sys.executable).with_name("ecamp-bench"))
    done = subprocess.run([exe, "data", "synth", "--size", "tiny", "--out", str(tmp_path / "d"), "--workers", "1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("[synthetic data:")]
    assert any("chexpert" in line for line in lines) and any("(end)" in line for line in lines), done.stderr[-2000:]
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr
