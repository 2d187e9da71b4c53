"""Importers of published checkpoints: exact release layouts in, strict load, same features as the source ViT.

Every file below is built with the key layout of the real release (random values, right shapes) and saved
the way its project saves it. Most tests use a small ViT with the ViT-B/16 *layout* (patch 16, same names,
fewer/narrower blocks) to stay fast; ``test_ecamp_official_at_true_vit_b16_shapes`` uses the real shapes.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ecamp_bench  # noqa: F401  (torchvision hook before timm)
from ecamp_bench.cli import main
from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.plugins import load_catalog

ARCH = "vit_base_patch16_224"
SMALL = {"embed_dim": 32, "depth": 2, "num_heads": 2}
SMALL_SIZE = 32  # 2×2 patches


def make_vit(pool: str, size: int, kwargs: dict, seed: int = 0, in_chans: int = 3) -> torch.nn.Module:
    """A timm ViT with every parameter random (so LayerNorm affines and biases matter), in eval mode."""
    import timm

    vit = timm.create_model(
        ARCH, pretrained=False, num_classes=0, global_pool=pool, fc_norm=False, img_size=size, in_chans=in_chans,
        weight_init="skip", **kwargs,
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in vit.parameters():
            p.normal_(0.0, 0.2, generator=gen)
    return vit.eval()


def spec_for(name: str, size: int = SMALL_SIZE, kwargs: dict | None = None):
    """The registered spec, shrunk to the small same-layout ViT unless ``kwargs`` is ``{}``."""
    spec = load_catalog(autoload=False).backbone(name)
    return replace(spec, input_size=size, model_kwargs=dict(SMALL if kwargs is None else kwargs))


# --- the published layouts ------------------------------------------------------------------------------


def _block(prefix: str, dim: int, hidden: int) -> dict[str, torch.Tensor]:
    shapes = {
        "norm1.weight": (dim,), "norm1.bias": (dim,), "attn.qkv.weight": (3 * dim, dim), "attn.qkv.bias": (3 * dim,),
        "attn.proj.weight": (dim, dim), "attn.proj.bias": (dim,), "norm2.weight": (dim,), "norm2.bias": (dim,),
        "mlp.fc1.weight": (hidden, dim), "mlp.fc1.bias": (hidden,), "mlp.fc2.weight": (dim, hidden),
        "mlp.fc2.bias": (dim,),
    }
    return {f"{prefix}{k}": torch.randn(s) for k, s in shapes.items()}


def mae_decoder(dim: int, dec_dim: int, depth: int, n_patches: int, pred_out: int) -> dict[str, torch.Tensor]:
    """MAE's decoder keys (``models_mae.py``; the same names in MRM and ECAMP)."""
    sd = {
        "mask_token": torch.randn(1, 1, dec_dim),
        "decoder_embed.weight": torch.randn(dec_dim, dim), "decoder_embed.bias": torch.randn(dec_dim),
        "decoder_pos_embed": torch.randn(1, n_patches + 1, dec_dim),
        "decoder_norm.weight": torch.randn(dec_dim), "decoder_norm.bias": torch.randn(dec_dim),
        "decoder_pred.weight": torch.randn(pred_out, dec_dim), "decoder_pred.bias": torch.randn(pred_out),
    }
    for i in range(depth):
        sd.update(_block(f"decoder_blocks.{i}.", dec_dim, 4 * dec_dim))
    return sd


def bert_keys(prefix: str, width: int) -> dict[str, torch.Tensor]:
    """Representative BERT keys under ``prefix`` (the importers drop the whole prefix, so internals only illustrate)."""
    return {
        f"{prefix}embeddings.word_embeddings.weight": torch.randn(50, width),
        f"{prefix}embeddings.LayerNorm.weight": torch.randn(width),
        f"{prefix}encoder.layer.0.attention.self.query.weight": torch.randn(width, width),
        f"{prefix}encoder.layer.0.crossattention.self.key.weight": torch.randn(width, width),
        f"{prefix}cls.predictions.decoder.weight": torch.randn(50, width),
    }


def ecamp_release(encoder: dict, dim: int, n_patches: int, dec_dim: int = 512) -> dict:
    """``ECAMP_ViT_Base_16.pth`` as ``main_pretrain.py`` saves it (model_ecamp.py: decoder 512-d × 4, SR head, BERT)."""
    sd = dict(encoder)
    sd.update(mae_decoder(dim, dec_dim, 4, n_patches, 16 * 16 * 3))
    sd.update({f"super_res.conv{i}.{p}": torch.randn(*((3, 3, 3, 3) if p == "weight" else (3,)))
               for i in (1, 2) for p in ("weight", "bias")})
    sd.update(bert_keys("bert_encoder.", 768))
    sd.update({"bert_mlp.weight": torch.randn(768, dim), "bert_mlp.bias": torch.randn(768)})
    return {"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1.5e-4, "params": [0, 1]}]}, "epoch": 119,
            "scaler": {"scale": 65536.0, "_growth_tracker": 0}}


def mrm_release(encoder: dict, dim: int, n_patches: int) -> dict:
    """``MRM.pth`` (model_mrm.py: decoder 768-d × 4 predicting 32×32×3 patches, BERT, bert_mlp → 384)."""
    sd = dict(encoder)
    sd.update(mae_decoder(dim, dim, 4, n_patches, 32 * 32 * 3))
    sd.update(bert_keys("bert_encoder.model.bert.", 384))
    sd.update({"bert_mlp.weight": torch.randn(384, dim), "bert_mlp.bias": torch.randn(384)})
    return {"model": sd, "epoch": 199}


def mae_release(encoder: dict, dim: int, n_patches: int) -> dict:
    """``mae_pretrain_vit_base.pth``: the encoder only, under ``model``."""
    return {"model": dict(encoder)}


def mgca_release(encoder: dict, dim: int, n_patches: int) -> dict:
    """MGCA's Lightning checkpoint (mgca_module.py: img_encoder_q, text_encoder_q, attention layers, prototypes)."""
    sd = {f"img_encoder_q.model.{k}": v for k, v in encoder.items()}
    for enc, width in (("img_encoder_q", dim), ("text_encoder_q", 768)):
        sd.update({
            f"{enc}.global_embed.head.0.weight": torch.randn(64, width),
            f"{enc}.global_embed.head.0.bias": torch.randn(64),
            f"{enc}.global_embed.head.1.running_mean": torch.randn(64),
            f"{enc}.global_embed.head.1.num_batches_tracked": torch.tensor(7),
            f"{enc}.local_embed.head.0.weight": torch.randn(64, width, 1),
        })
    sd.update(bert_keys("text_encoder_q.model.", 768))
    sd.update({
        "patch_local_atten_layer.in_proj_weight": torch.randn(3 * 128, 128),
        "word_local_atten_layer.out_proj.weight": torch.randn(128, 128),
        "prototype_layer.weight": torch.randn(500, 128),
    })
    return {
        "epoch": 49, "global_step": 12345, "pytorch-lightning_version": "1.5.9", "state_dict": sd,
        "callbacks": {
            "ModelCheckpoint": {
                "monitor": "val_loss", "best_model_score": torch.tensor(1.23), "best_model_path": "x.ckpt",
            }
        },
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 2e-5, "params": [0]}]}],
        "lr_schedulers": [{"last_epoch": 49, "base_lrs": [2e-5]}], "hparams_name": "kwargs",
        "hyper_parameters": {
            "img_encoder": "vit_base", "emb_dim": 128, "num_prototypes": 500, "learning_rate": 2e-5, "gpus": 2,
            "freeze_bert": True, "lambda_1": 1.0, "data_pct": 1.0,
        },
    }


def timm_to_mmseg(state: dict) -> dict:
    """BenchX ``medvlm2mmseg.convert_vit`` (timm → mmseg names), re-stated from its documented rules."""
    out = {}
    for k, v in state.items():
        if k.startswith(("decoder", "bert", "mask")):
            continue
        n = k.replace("patch_embed.proj.", "patch_embed.projection.") if k.startswith("patch_embed") else k
        if k.startswith("norm."):
            n = "ln1." + k[len("norm."):]
        if k.startswith("blocks."):
            for a, b in (("norm1", "ln1"), ("norm2", "ln2"), ("mlp.fc1", "ffn.layers.0.0"), ("mlp.fc2", "ffn.layers.1"),
                         ("attn.qkv.", "attn.attn.in_proj_"), ("attn.proj", "attn.attn.out_proj")):
                if a in k:
                    n = k.replace(a, b)
                    break
            n = n.replace("blocks.", "layers.")
        out[n] = v
    return out


def benchx_mgca(encoder: dict, dim: int, n_patches: int):
    """BenchX-converted MGCA-ViT: prefix ``img_encoder_q.model`` stripped, mmseg names, bare ``torch.save``."""
    return timm_to_mmseg(encoder)


def benchx_mrm(encoder: dict, dim: int, n_patches: int):
    """BenchX-converted MRM: decoder/bert/mask dropped by the converter, mmseg names."""
    return timm_to_mmseg(mrm_release(encoder, dim, n_patches)["model"])


RELEASES = {
    "ecamp-official": ("ECAMP_ViT_Base_16.pth", lambda e, d, n: ecamp_release(e, d, n, dec_dim=16)),
    "mrm": ("MRM.pth", mrm_release),
    "mae": ("mae_pretrain_vit_base.pth", mae_release),
    "mgca-vit": ("MGCA-vit.ckpt", mgca_release),
    "benchx:mgca-vit": ("MGCA-vit.ckpt", benchx_mgca),
    "benchx:mrm": ("MRM.pth", benchx_mrm),
}


def write_release(name: str, folder: Path, vit: torch.nn.Module) -> Path:
    """Save ``vit``'s weights in the release layout of backbone ``name``; returns the path."""
    filename, build = RELEASES[name]
    path = folder / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    n_patches = vit.patch_embed.num_patches
    torch.save(build(vit.state_dict(), vit.embed_dim, n_patches), path)
    return path


# --- tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_release_layout_loads_strictly_with_source_features(name, tmp_path):
    spec = spec_for(name)
    source = make_vit(spec.global_pool, SMALL_SIZE, SMALL)
    path = write_release(name, tmp_path / name.replace(":", "_"), source)
    backbone = build_backbone(spec, path, strict=True).eval()
    for key, value in source.state_dict().items():
        assert torch.equal(backbone.encoder.state_dict()[key], value), key
    x = torch.randn(3, 3, SMALL_SIZE, SMALL_SIZE)
    with torch.no_grad():
        got = backbone.forward_global(x)  # [3, D]
        tokens = source.forward_features(x)  # [3, 1 + L, D], final norm applied
    expected = tokens[:, 0] if spec.global_pool == "token" else tokens[:, 1:].mean(dim=1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_specs_carry_each_methods_normalisation_file_and_pooling():
    cat = load_catalog(autoload=False)
    expected = {
        "ecamp-official": ("ECAMP_ViT_Base_16.pth", 0.4722, 0.3028, "avg"),
        "mrm": ("MRM.pth", 0.4978, 0.2449, "avg"),
        "mae": ("mae_pretrain_vit_base.pth", 0.485, 0.229, "avg"),
        "mgca-vit": ("MGCA-vit.ckpt", 0.5, 0.5, "token"),
        "benchx:mgca-vit": ("benchx/MGCA-vit.ckpt", 0.5, 0.5, "token"),
        "benchx:mrm": ("benchx/MRM.pth", 0.4978, 0.2449, "avg"),
    }
    for name, (weights, mean0, std0, pool) in expected.items():
        spec = cat.backbone(name)
        assert ((spec.weights, spec.mean[0], spec.std[0], spec.global_pool, spec.arch)
                == (weights, mean0, std0, pool, ARCH))
        assert len(spec.mean) == len(spec.std) == 3
    assert cat.backbone("mae").std == (0.229, 0.224, 0.225)


def test_ecamp_official_at_true_vit_b16_shapes(tmp_path, caplog):
    spec = load_catalog(autoload=False).backbone("ecamp-official")
    assert (spec.arch, spec.input_size, spec.model_kwargs) == (ARCH, 224, {})  # the true ViT-B/16
    spec = replace(spec, model_kwargs={"weight_init": "skip"})  # every parameter is loaded from the file anyway
    source = make_vit("avg", 224, {})
    path = tmp_path / "ECAMP_ViT_Base_16.pth"
    torch.save(ecamp_release(source.state_dict(), 768, 196), path)
    with caplog.at_level(logging.INFO, logger="ecamp_bench.models.importers"):
        backbone = build_backbone(spec, path).eval()
    lines = [r.getMessage() for r in caplog.records if r.name == "ecamp_bench.models.importers"]
    assert len(lines) == 1, lines
    for group in ("bert_encoder.* (5)", "bert_mlp.* (2)", "decoder_blocks.* (48)", "mask_token", "super_res.* (4)"):
        assert group in lines[0]
    assert backbone.num_features == 768 and len(backbone.encoder.blocks) == 12
    loaded = backbone.encoder.state_dict()
    assert loaded.keys() == source.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in source.state_dict().items())
    torch.testing.assert_close(backbone.normalize(torch.full((1, 3, 2, 2), 0.4722 + 0.3028)), torch.ones(1, 3, 2, 2))


def test_wrong_file_names_missing_unexpected_and_wrong_shape_keys(tmp_path):
    spec = spec_for("ecamp-official")
    release = ecamp_release(make_vit("avg", SMALL_SIZE, SMALL).state_dict(), SMALL["embed_dim"], 4, dec_dim=16)
    model = release["model"]
    del model["blocks.1.mlp.fc2.bias"]
    model["blocks.1.ls1.gamma"] = torch.ones(SMALL["embed_dim"])
    model["norm.weight"] = torch.ones(7)
    torch.save(release, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as info:
        build_backbone(spec, tmp_path / "bad.pth")
    message = str(info.value)
    assert str(tmp_path / "bad.pth") in message
    assert re.search(r"missing keys: blocks\.1\.mlp\.fc2\.bias", message)
    assert re.search(r"unexpected keys: blocks\.1\.ls1\.gamma", message)
    assert "wrong-shape keys: norm.weight (file (7,), model (32,))" in message
    assert "decoder" not in message and "bert" not in message  # pre-training keys are dropped, not reported


def test_other_methods_file_is_refused_with_the_keys_at_fault(tmp_path):
    source = make_vit("avg", SMALL_SIZE, SMALL)
    mrm = write_release("mrm", tmp_path, source)
    with pytest.raises(CheckpointError, match=r"no key starts with 'img_encoder_q\.model\.'.*blocks\.\* \("):
        build_backbone(spec_for("mgca-vit"), mrm)
    mgca = write_release("mgca-vit", tmp_path, source)
    with pytest.raises(CheckpointError, match=r"unexpected keys: img_encoder_q\.global_embed") as info:
        build_backbone(spec_for("mrm"), mgca)
    assert "missing keys: blocks.0.attn.proj.bias" in str(info.value)


def test_pos_embed_resampled_to_a_larger_grid(tmp_path):
    source = make_vit("avg", SMALL_SIZE, SMALL)  # 2×2 grid
    path = write_release("mae", tmp_path, source)
    backbone = build_backbone(spec_for("mae", size=48), path)  # 3×3 grid
    pos = source.state_dict()["pos_embed"]  # [1, 1 + 4, D]
    grid = pos[:, 1:].reshape(1, 2, 2, -1).permute(0, 3, 1, 2)  # [1, D, 2, 2]
    expected = F.interpolate(grid, size=(3, 3), mode="bicubic", align_corners=False,
                             antialias=True).flatten(2).transpose(1, 2)
    got = backbone.encoder.pos_embed.detach()  # [1, 1 + 9, D]
    assert got.shape == (1, 10, SMALL["embed_dim"])
    torch.testing.assert_close(got[:, :1], pos[:, :1])
    torch.testing.assert_close(got[:, 1:], expected, rtol=1e-5, atol=1e-5)


def test_one_channel_patch_embedding_matches_on_replicated_grayscale(tmp_path):
    gray_source = make_vit("avg", SMALL_SIZE, SMALL, in_chans=1)
    path = write_release("mrm", tmp_path, gray_source)
    backbone = build_backbone(spec_for("mrm"), path).eval()
    assert backbone.encoder.patch_embed.proj.weight.shape[1] == 3
    gray = torch.randn(2, 1, SMALL_SIZE, SMALL_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(
            backbone(gray.repeat(1, 3, 1, 1)), gray_source.forward_features(gray)[:, 1:].mean(1), rtol=1e-4, atol=1e-4
        )


def test_fine_tuned_fc_norm_file_gets_a_fixable_error(tmp_path):
    source = make_vit("avg", SMALL_SIZE, SMALL)
    sd = source.state_dict()
    sd["fc_norm.weight"], sd["fc_norm.bias"] = sd.pop("norm.weight"), sd.pop("norm.bias")
    torch.save({"model": sd, "epoch": 3}, tmp_path / "ft.pth")
    with pytest.raises(CheckpointError, match=r"fc_norm.*backbone\.model_kwargs\.fc_norm=true"):
        build_backbone(spec_for("mae"), tmp_path / "ft.pth")


def test_mae_style_checkpoint_with_argparse_namespace_loads(tmp_path):
    source = make_vit("avg", SMALL_SIZE, SMALL)
    release = ecamp_release(source.state_dict(), SMALL["embed_dim"], 4, dec_dim=16)
    release["args"] = argparse.Namespace(batch_size=256, blr=1.5e-4, output_dir="./output_dir")
    torch.save(release, tmp_path / "ECAMP_ViT_Base_16.pth")
    build_backbone(spec_for("ecamp-official"), tmp_path / "ECAMP_ViT_Base_16.pth")


def test_list_backbones_shows_expected_file_and_presence(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    pretrained = tmp_path / "pretrained"  # conftest points ECAMP_BENCH_PRETRAINED here
    pretrained.mkdir(exist_ok=True)
    (pretrained / "ECAMP_ViT_Base_16.pth").write_bytes(b"x")
    assert main(["list", "backbones"]) == 0
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("│") > 3}
    assert f"{pretrained / 'ECAMP_ViT_Base_16.pth'} (present)" in rows["ecamp-official"]
    assert f"{pretrained / 'MRM.pth'} (missing)" in rows["mrm"]
    assert f"{pretrained / 'benchx' / 'MGCA-vit.ckpt'} (missing)" in rows["benchx:mgca-vit"]


def test_eval_rsna_cls_with_official_ecamp_layout(tmp_path, synthetic_tiny, capsys):
    source = make_vit("avg", SMALL_SIZE, SMALL)
    path = tmp_path / "download" / "ECAMP_ViT_Base_16.pth"
    path.parent.mkdir()
    torch.save(ecamp_release(source.state_dict(), SMALL["embed_dim"], 4, dec_dim=16), path)
    rc = main([
        "eval", "--task", "rsna-cls", "--fraction", "0.1", "--backbone", "ecamp-official", "--weights", str(path),
        "--data-root", str(synthetic_tiny), "--preset", "tiny", "--set", "backbone.input_size=32",
        "--set", "backbone.model_kwargs={embed_dim: 32, depth: 2, num_heads: 2}",
    ])
    out = capsys.readouterr()
    assert rc == 0, out.err
    records = list((tmp_path / "results").rglob("*.json"))
    record = next(json.loads(p.read_text()) for p in records if "ecamp-official" in p.read_text())
    assert record["backbone"]["name"] == "ecamp-official"
    assert record["backbone"]["weights_ref"] == str(path)
    resolved = record["config"]["resolved"]["backbone"]
    assert (resolved["mean"], resolved["std"]) == ([0.4722] * 3, [0.3028] * 3)
    assert resolved["adapt_state_dict"] == "ecamp_bench_plugins.backbones.published:adapt_ecamp_official"
    assert record["status"] == "ok" and record["plugins"]["backbone"] == "ecamp-bench==0.1.0"
    auc = next(m for m in record["metrics"] if m["name"] == "auc")
    assert auc["value"] is None or 0.0 <= auc["value"] <= 1.0
    assert "rsna-cls 10% linear ecamp-official seed 0" in out.out
