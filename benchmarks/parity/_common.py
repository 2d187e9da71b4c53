"""Shared plumbing of the parity comparisons: finding the authors' checkouts, running their side in a
separate process, and summarising paired values over seeds."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHIM = HERE / "authors_shim.py"

# A file that only that repository has, to tell the checkouts passed with --authors-repo apart.
MARKERS = {
    "ecamp": "ECAMP/Fine-tuning/Classification/train.py",
    "mgca": "mgca/models/ssl_finetuner.py",
    "mrm": "NIH_ChestX-ray/train.py",
}


def identify_repos(paths: Sequence[Path]) -> dict[str, Path]:
    """``{"ecamp"|"mgca"|"mrm": path}`` for the given checkouts; an unknown folder is an error naming it."""
    found: dict[str, Path] = {}
    for path in paths:
        path = Path(path).resolve()
        names = [name for name, marker in MARKERS.items() if (path / marker).is_file()]
        if not names:
            wanted = ", ".join(f"{n} ({m})" for n, m in MARKERS.items())
            raise SystemExit(f"--authors-repo {path}: not a checkout of ECAMP, MGCA or MRM (looked for {wanted})")
        found[names[0]] = path
    return found


def run_authors(kind: str, repo: Path, arrays: dict[str, np.ndarray], *, python: str, **options) -> dict:
    """Run ``authors_shim.py kind`` under ``python`` on ``arrays`` (``options``: ``--key value``; ``True``: a bare
    flag, ``False``: left out); its JSON result (stderr shown on failure)."""
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        inputs, out = Path(tmp) / "inputs.npz", Path(tmp) / "out.json"
        np.savez(inputs, **arrays)
        cmd = [python, str(SHIM), kind, "--authors-repo", str(repo), "--inputs", str(inputs), "--out", str(out)]
        for key, value in options.items():
            flag = f"--{key.replace('_', '-')}"
            cmd += [flag] if value is True else [] if value is False else [flag, str(value)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"authors' side '{kind}' failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


def seed_summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def within_noise(ours: Sequence[float], theirs: Sequence[float]) -> tuple[float, float, bool]:
    """Mean paired difference (ours - theirs), the seed noise it is judged against, and the verdict.

    The noise is the larger of the two sides' seed standard deviations; the difference is "within seed noise"
    when ``|mean difference| <= 2 * noise / sqrt(seeds)`` (about a 95% band of a mean over the seeds), or
    when it is exactly zero.
    """
    diff = [a - b for a, b in zip(ours, theirs, strict=True)]
    mean_diff = statistics.fmean(diff)
    noise = max(seed_summary(ours)[1], seed_summary(theirs)[1])
    if mean_diff == 0.0:
        return mean_diff, noise, True
    return mean_diff, noise, abs(mean_diff) <= 2 * noise / math.sqrt(len(diff))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table; floats with 4 decimals (below 1e-3 in scientific notation, exact zero as 0)."""

    def cell(x):
        if not isinstance(x, float):
            return str(x)
        if x == 0.0:
            return "0"
        return f"{x:.1e}" if abs(x) < 1e-3 else f"{x:.4f}"

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def default_python() -> str:
    """The interpreter the authors' side runs under unless ``--authors-python`` says otherwise."""
    return sys.executable
