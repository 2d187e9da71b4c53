"""Backbone weight files: round trip, strict loading errors, safe pickle loading, hash cache."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

import ecamp_bench  # noqa: F401
from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.models.checkpoints import (
    BackboneMeta, load_backbone_file, load_state_dict_file, read_backbone_meta, save_backbone_file, weights_sha256,
)
from ecamp_bench.specs import BackboneSpec

KWARGS = {"img_size": 32, "depth": 2, "embed_dim": 24, "num_heads": 2}


def tiny_vit():
    import timm

    return timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **KWARGS)


def meta(**extra) -> BackboneMeta:
    return BackboneMeta(arch="vit_tiny_patch16_224", model_kwargs=KWARGS, img_size=32, embed_dim=24, depth=2,
                        mean=(0.4, 0.4, 0.4), std=(0.3, 0.3, 0.3), origin="test", **extra)


def test_round_trip_loads_strictly_into_timm(tmp_path):
    model = tiny_vit()
    path = save_backbone_file(tmp_path / "b.safetensors", model.state_dict(), meta(extra={"steps": 3}))
    state, read = load_backbone_file(path)
    assert read.arch == "vit_tiny_patch16_224" and read.model_kwargs == KWARGS
    assert read.mean == (0.4, 0.4, 0.4) and read.extra == {"steps": 3} and read.created_at.endswith("Z")
    fresh = tiny_vit()
    fresh.load_state_dict(state, strict=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    assert [p.name for p in tmp_path.iterdir()] == ["b.safetensors"]  # no temp file left


def test_strict_loading_names_missing_unexpected_and_wrong_shape_keys(tmp_path):
    state = tiny_vit().state_dict()
    del state["blocks.1.mlp.fc2.bias"]
    state["decoder.extra"] = torch.zeros(3)
    state["cls_token"] = torch.zeros(1, 1, 7)
    path = save_backbone_file(tmp_path / "bad.safetensors", state, meta())
    spec = BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=32,
                        model_kwargs={k: v for k, v in KWARGS.items() if k != "img_size"})
    with pytest.raises(CheckpointError) as info:
        build_backbone(spec, path)
    message = str(info.value)
    assert "bad.safetensors" in message
    assert "missing keys: blocks.1.mlp.fc2.bias" in message
    assert "unexpected keys: decoder.extra" in message
    assert "wrong-shape keys: cls_token (file (1, 1, 7), model (1, 1, 24))" in message
    loose = build_backbone(spec, path, strict=False)  # non-strict: loads what matches
    assert torch.equal(loose.encoder.state_dict()["blocks.0.attn.qkv.weight"], state["blocks.0.attn.qkv.weight"])


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"model": {"w": _Exploit(target)}}, handle)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_state_dict_file(path)
    assert not target.exists()


def test_plain_pth_is_unwrapped(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"model": {"a": torch.ones(2)}, "epoch": 3}, path)
    assert torch.equal(load_state_dict_file(path)["a"], torch.ones(2))


def test_foreign_safetensors_without_metadata_is_named(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"a": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match="foreign.safetensors.*not an ecamp-bench backbone file"):
        read_backbone_meta(path)


def test_weights_sha256_is_cached_by_size_and_mtime(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc")
    first = weights_sha256(path)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(b"abcd")
    os.utime(path, ns=(10**18, 10**18))
    assert weights_sha256(path) != first


def test_code_pickled_next_to_the_weights_of_a_zip_checkpoint_never_runs(tmp_path):
    """torch.save files list their globals: foreign ones become inert stand-ins, the weights still load."""
    target = tmp_path / "pwned.txt"
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {"a": torch.ones(2)}, "hyper_parameters": {"x": _Exploit(target)}}, path)
    assert torch.equal(load_state_dict_file(path)["a"], torch.ones(2))
    assert not target.exists()
