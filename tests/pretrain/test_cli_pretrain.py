"""``ecamp-bench pretrain``: end to end on the synthetic tiny set, the paper config's dry run, and ``--config``
(formerly ``--preset``: a run folder made under the former name resumes under the new one)."""

from __future__ import annotations

import re

import pytest
import yaml

from _pretrain_tiny import tiny_config

from ecamp_bench.cli import main
from ecamp_bench.config import to_dict


@pytest.mark.slow
def test_pretrain_cli_runs_on_the_synthetic_set_and_exports_a_backbone(synthetic_tiny, tmp_path, capsys):
    config = to_dict(tiny_config())
    config["optim"].update(epochs=2)
    config["data"]["contexts"] = str(tmp_path / "contexts.jsonl")  # distilled here, not into the shared root
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    rc = main(["pretrain", "--config", str(tmp_path / "tiny.yaml"), "--data-root", str(synthetic_tiny),
               "--out", str(tmp_path / "run"), "--set", "optim.batch_size=8", "--seed", "3", "--variant", "mae-only"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (tmp_path / "contexts.jsonl").is_file()
    assert re.search(r"backbone: .*ecamp-tiny-mae-only-[0-9a-f]{8}\.safetensors", out.replace("\n", ""))
    assert (tmp_path / "run" / "probe.jsonl").is_file()
    assert "mlm" in out and "first 10%" in out
    assert (tmp_path / "pretrained").is_dir() and list((tmp_path / "pretrained").glob("*.safetensors"))


def test_pretrain_cli_rejects_an_unknown_config_and_key(capsys):
    assert main(["pretrain", "--config", "cpu-smal"]) == 2
    assert "unknown pretrain config 'cpu-smal'. Did you mean 'cpu-small'" in " ".join(capsys.readouterr().err.split())
    assert main(["pretrain", "--set", "optim.lrr=1"]) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert main(["pretrain", "--variant", "mae-onyl", "--dry-run"]) == 2
    assert "Did you mean 'mae-only'" in capsys.readouterr().err


@pytest.mark.slow
def test_paper_dry_run_builds_vit_b16_and_runs_one_step(capsys):
    rc = main(["pretrain", "--config", "paper", "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0, out
    encoder = int(re.search(r"encoder\s*│\s*([\d,]+)", out).group(1).replace(",", ""))
    assert 85_500_000 < encoder < 86_500_000  # ViT-B/16: 85.8M incl. the fixed position embedding
    assert re.search(r"one step on 2 images: loss \d+\.\d+ \(mim", out)


@pytest.mark.slow
def test_a_run_folder_made_with_the_former_preset_option_resumes_with_config(synthetic_tiny, tmp_path, capsys):
    """The default run folder is ``<config name>-<first 8 of the config's sha256>`` as before the rename, so
    ``--config X --resume`` finds (and here finishes) the folder that ``--preset X`` wrote."""
    from ecamp_bench.config import config_sha256
    from ecamp_bench.paths import results_dir
    from ecamp_bench.pretrain.config import load_pretrain_config

    config = to_dict(tiny_config())
    config["optim"].update(epochs=1, batch_size=8, accum_steps=1)
    config["data"]["contexts"] = str(tmp_path / "contexts.jsonl")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    common = ["--data-root", str(synthetic_tiny), "--set", "run.checkpoint_every=1"]
    assert main(["pretrain", "--preset", str(path), *common]) == 0
    first = capsys.readouterr()
    assert [line for line in first.err.splitlines() if "deprecated" in line] == [
        "warning: `pretrain --preset` is deprecated, use --config (same values)"]
    cfg = load_pretrain_config(str(path), ["run.checkpoint_every=1"])
    cfg.data.root = synthetic_tiny  # as the CLI sets --data-root
    (folder,) = (results_dir() / "pretrain").iterdir()
    assert folder.name == f"tiny-{config_sha256(to_dict(cfg))[:8]}"  # the name older versions gave it
    assert main(["pretrain", "--config", str(path), *common, "--resume"]) == 0
    again = capsys.readouterr()
    assert f"nothing to train: the run in {folder} had already finished" in again.out.replace("\n", "")
    assert "deprecated" not in again.err and [folder] == list((results_dir() / "pretrain").iterdir())
    assert main(["pretrain", "--preset", "cpu-small", "--config", "cpu-small", "--dry-run"]) == 2
    assert "give --config only" in capsys.readouterr().err
