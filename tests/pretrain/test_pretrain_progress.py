"""``ecamp-bench pretrain`` without a terminal writes plain progress lines (steps, total, rate, losses)."""

from __future__ import annotations

import re

import pytest
import yaml

from _pretrain_tiny import tiny_config

from ecamp_bench.cli import main
from ecamp_bench.config import to_dict


@pytest.mark.slow
def test_pretrain_without_a_terminal_prints_step_lines(synthetic_tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "0")  # a line per step
    config = to_dict(tiny_config())
    config["optim"].update(epochs=2)
    config["data"]["contexts"] = str(tmp_path / "contexts.jsonl")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    rc = main(["pretrain", "--config", str(tmp_path / "tiny.yaml"), "--data-root", str(synthetic_tiny),
               "--out", str(tmp_path / "run"), "--set", "optim.batch_size=8"])
    err = capsys.readouterr().err
    assert rc == 0, err
    steps = re.findall(r"^\[pretrain tiny \(steps\)\] (\d+)/(\d+) \(\d+%\) \S+ it/s .*samples/s", err, re.M)
    assert steps and steps[-1][0] == steps[-1][1] and len({total for _, total in steps}) == 1, err[-2000:]
