"""Seeds are validated where they enter: 0 <= seed < 2**32, one error line, exit 2, nothing written."""

from __future__ import annotations

import pytest

from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir

BAD = ["-1", "4294967296", "18446744073709551621"]


@pytest.mark.parametrize("seed", BAD)
@pytest.mark.parametrize("command", [
    ["eval", "--task", "siim-seg", "--preset", "tiny"],
    ["eval", "--task", "rsna-cls", "--preset", "tiny"],
    ["pretrain", "--config", "cpu-small", "--dry-run"],
    ["data", "synth", "--size", "tiny"],
], ids=["eval-siim-seg", "eval-rsna-cls", "pretrain", "data-synth"])
def test_an_out_of_range_seed_is_one_line_and_writes_nothing(command, seed, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ECAMP_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    out = ["--out", str(tmp_path / "synth")] if command[0] == "data" else []
    assert main([*command, *out, f"--seed={seed}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"--seed {seed}: a seed must be an integer from 0 to 4294967295" in err
    assert not results_dir().exists() and not (tmp_path / "synth").exists()


@pytest.mark.parametrize("seeds", ["0,-1", "4294967296", "0-4294967296", "1,18446744073709551621"])
def test_sweep_refuses_out_of_range_seeds(seeds, capsys):
    assert main(["sweep", "--tasks", "rsna-cls", "--seeds", seeds, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--seeds" in err, err


def test_the_largest_seed_is_accepted():
    from ecamp_bench.seeds import check_seed

    assert check_seed(2**32 - 1) == 4294967295
