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


def test_a_loss_term_with_weight_zero_is_marked_off():
    from ecamp_bench.pretrain.loop import format_losses

    losses = {"loss": 0.4811, "mim": 0.4811, "sr": 0.632, "mlm": 6.354}
    assert format_losses(losses, {"mim": 1.0, "sr": 0.0, "mlm": 0.0}) == (
        "loss 0.481 mim 0.481 sr 0.632 (off) mlm 6.354 (off)")
    assert format_losses(losses, {"mim": 1.0, "sr": 1.0, "mlm": 1.0}) == "loss 0.481 mim 0.481 sr 0.632 mlm 6.354"


def test_writing_the_synthetic_default_for_pretraining_shows_progress(monkeypatch, tmp_path, capsys):
    """Pre-training on the synthetic default writes it on first use: the log says so (it was 45 s of silence)."""
    import ecamp_bench.data.synth as synth
    from ecamp_bench.pretrain.config import DataConfig
    from ecamp_bench.pretrain.sources import resolve_data_root

    def fake_generation(size=None, progress=None):
        progress("mimic-cxr", 0, 2)
        progress("mimic-cxr", 2, 2)
        return tmp_path

    monkeypatch.setattr(synth, "ensure_synthetic_default", fake_generation)
    monkeypatch.delenv("RANK", raising=False)
    assert resolve_data_root(DataConfig(root=None)) == tmp_path
    assert "[generating the synthetic default: mimic-cxr] 2/2 (100%)" in capsys.readouterr().err
