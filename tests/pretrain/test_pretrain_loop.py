"""The training loop in-process on the tiny setup: stages, windows, export round trip, config errors."""

from __future__ import annotations

import json

import pytest
import torch

from _pretrain_tiny import tiny_config, tiny_pairs

from ecamp_bench.errors import ConfigError
from ecamp_bench.models.checkpoints import load_backbone_file
from ecamp_bench.pretrain.loop import run_pretraining


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tiny run (3 epochs × 2 steps; the attention windows are chosen after epoch 1)."""
    folder = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECAMP_BENCH_PRETRAINED", str(folder / "pretrained"))
        result, trainer = run_pretraining(tiny_config(), folder / "run", pairs=tiny_pairs(folder / "pairs"))
    assert result.backbone.parent == folder / "pretrained"
    return result, trainer, folder


def test_run_trains_every_step_and_writes_its_artefacts(finished):
    result, trainer, folder = finished
    assert result.steps == 6 == trainer.total_steps
    run = folder / "run"
    for name in ("config.yaml", "tokenizer.json", "sr_windows.json", "metrics.jsonl"):
        assert (run / name).is_file(), name
    assert list((run / "tb").iterdir()), "TensorBoard event file"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    windows = json.loads((run / "sr_windows.json").read_text())
    assert len(windows) == 16 and all(0 <= i <= 1 and 0 <= j <= 1 for i, j in windows.values())  # 3 of 4 patches
    assert trainer.dataset.sr_rule.name == "attention"


def test_exported_backbone_is_a_plain_timm_vit_with_the_same_features(finished):
    result, trainer, _ = finished
    import timm

    state, meta = load_backbone_file(result.backbone)
    vit = timm.create_model(meta.arch, pretrained=False, num_classes=0, **meta.model_kwargs)
    vit.load_state_dict(state, strict=True)
    assert meta.mean == (0.4721,) * 3 and meta.img_size == 32 and meta.patch_size == 8
    x = torch.randn(2, 3, 32, 32)
    vit.eval()
    trainer.model.encoder.eval()
    assert torch.allclose(vit.forward_features(x), trainer.model.encoder.forward_features(x), atol=1e-6)


def test_a_second_run_into_the_same_folder_needs_resume(finished, tmp_path):
    _, _, folder = finished
    with pytest.raises(ConfigError, match="--resume"):
        run_pretraining(tiny_config(), folder / "run", pairs=tiny_pairs(tmp_path))


def test_resume_refuses_a_changed_training_config(finished, tmp_path):
    _, _, folder = finished
    cfg = tiny_config()
    cfg.optim.lr = 5e-4
    with pytest.raises(ConfigError, match="'optim' config differs"):
        run_pretraining(cfg, folder / "run", resume=True, pairs=tiny_pairs(tmp_path))


def test_too_few_pairs_for_one_step_names_the_sizes_and_the_way_out(tmp_path):
    from ecamp_bench.errors import DataError

    with pytest.raises(DataError, match=r"5 pairs are too few for batch_size 4 × accum_steps 2") as caught:
        run_pretraining(tiny_config(), tmp_path / "run", pairs=tiny_pairs(tmp_path / "pairs", n=5))
    assert "--set optim.batch_size=N" in str(caught.value) and "data synth --size small" in str(caught.value)
