"""Initialising from a local MAE/timm checkpoint: keys mapped, reported, shape errors refused."""

from __future__ import annotations

import pytest
import torch

from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.ecamp import ECAMP
from ecamp_bench.pretrain.export import init_from_checkpoint

from _pretrain_tiny import tiny_config


def tiny_model_cfg():
    return tiny_config().model


def test_mae_style_checkpoint_fills_encoder_and_decoder(tmp_path):
    torch.manual_seed(0)
    source, target = ECAMP(tiny_model_cfg()), ECAMP(tiny_model_cfg())
    state = {k[len("encoder."):]: v for k, v in source.state_dict().items() if k.startswith("encoder.")}
    state.update({k: v for k, v in source.state_dict().items() if k.startswith("decoder_") or k == "mask_token"})
    state["head.weight"] = torch.zeros(3, 32)  # a fine-tuning head has no place in the model
    del state["blocks.1.mlp.fc2.bias"]
    torch.save({"model": state}, tmp_path / "mae.pth")
    report = init_from_checkpoint(target, tmp_path / "mae.pth")
    assert report.unexpected == ["head.weight"] and report.missing == ["encoder.blocks.1.mlp.fc2.bias"]
    assert torch.equal(target.encoder.blocks[0].attn.qkv.weight, source.encoder.blocks[0].attn.qkv.weight)
    assert torch.equal(target.decoder_pred.weight, source.decoder_pred.weight)
    assert not torch.equal(target.text.mlm_head.decoder.weight, source.text.mlm_head.decoder.weight)  # text: fresh


def test_wrong_architecture_or_foreign_file_is_refused(tmp_path):
    model = ECAMP(tiny_model_cfg())
    torch.save({"blocks.0.attn.qkv.weight": torch.zeros(5, 5)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="blocks.0.attn.qkv.weight"):
        init_from_checkpoint(model, tmp_path / "wrong.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match="no ViT encoder weights"):
        init_from_checkpoint(model, tmp_path / "foreign.pth")
