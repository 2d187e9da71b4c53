"""``ecamp-bench pretrain``: end to end on the synthetic tiny set, and the paper preset's dry run."""

from __future__ import annotations

import re

import pytest
import yaml

from _pretrain_tiny import tiny_config

from ecamp_bench.cli import main
from ecamp_bench.config import to_dict


@pytest.mark.slow
def test_pretrain_cli_runs_on_the_synthetic_set_and_exports_a_backbone(synthetic_tiny, tmp_path, capsys):
    preset = to_dict(tiny_config())
    preset["optim"].update(epochs=2)
    preset["data"]["contexts"] = str(tmp_path / "contexts.jsonl")  # distilled here, not into the shared root
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(preset))
    rc = main(["pretrain", "--preset", str(tmp_path / "tiny.yaml"), "--data-root", str(synthetic_tiny),
               "--out", str(tmp_path / "run"), "--set", "optim.batch_size=8", "--seed", "3", "--variant", "mae-only"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (tmp_path / "contexts.jsonl").is_file()
    assert re.search(r"backbone: .*ecamp-tiny-mae-only-[0-9a-f]{8}\.safetensors", out.replace("\n", ""))
    assert (tmp_path / "run" / "probe.jsonl").is_file()
    assert "mlm" in out and "first 10%" in out
    assert (tmp_path / "pretrained").is_dir() and list((tmp_path / "pretrained").glob("*.safetensors"))


def test_pretrain_cli_rejects_an_unknown_preset_and_key(capsys):
    assert main(["pretrain", "--preset", "cpu-smal"]) == 2
    assert "Did you mean 'cpu-small'" in capsys.readouterr().err
    assert main(["pretrain", "--set", "optim.lrr=1"]) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert main(["pretrain", "--variant", "mae-onyl", "--dry-run"]) == 2
    assert "Did you mean 'mae-only'" in capsys.readouterr().err


@pytest.mark.slow
def test_paper_dry_run_builds_vit_b16_and_runs_one_step(capsys):
    rc = main(["pretrain", "--preset", "paper", "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0, out
    encoder = int(re.search(r"encoder\s*│\s*([\d,]+)", out).group(1).replace(",", ""))
    assert 85_500_000 < encoder < 86_500_000  # ViT-B/16: 85.8M incl. the fixed position embedding
    assert re.search(r"one step on 2 images: loss \d+\.\d+ \(mim", out)
