"""ResNet-50 importers: every published key layout in, strict load, the same features as the source network.

Each file is built with the key layout of the real release (random values; encoder tensors with the shapes
of the architecture, the dropped extras with representative shapes) and saved the way its project saves it
(Lightning checkpoint dict, ``{"model": ...}`` from a DDP model, bare ``state_dict``). The source network is
torchvision's ResNet (what every one of these projects trains). Most tests use a ResNet with the ResNet-50
*layout* (bottleneck blocks, same parameter names and stage widths 256-2048) but one block per stage and
narrow bottlenecks, to stay fast; ``test_mgca_r50_at_true_resnet50_shapes`` uses the real ResNet-50.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

import ecamp_bench  # noqa: F401  (torchvision hook before timm)
from _resnet_layouts import (
    SIZE, biovil, convirt, encoder_state, gloria, medklip, mflag_encoder, mflag_total, mgca_r50, save, spec_for,
    torchvision_resnet,
)
from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.backbone import build_backbone

# --- checks ---------------------------------------------------------------------------------------------


def source_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(global [B, 2048], [layer1, layer2, layer3, layer4] maps)`` of a torchvision ResNet in eval mode."""
    with torch.no_grad():
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        maps = []
        for name in ("layer1", "layer2", "layer3", "layer4"):
            h = getattr(model, name)(h)
            maps.append(h)
        return torch.flatten(model.avgpool(h), 1), maps


def assert_same_as_source(backbone, source: nn.Module) -> None:
    loaded = backbone.encoder.state_dict()
    for key, value in encoder_state(source).items():
        assert torch.equal(loaded[key], value), key
    x = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    want_global, want_maps = source_features(source, x)
    with torch.no_grad():
        got_global = backbone.forward_global(x)
        got_maps = backbone.forward_multiscale(x)
    torch.testing.assert_close(got_global, want_global, rtol=1e-4, atol=1e-5)
    for got, want in zip(got_maps, want_maps):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert backbone.out_channels == [256, 512, 1024, 2048] and backbone.family == "cnn"


RELEASES = [  # (backbone, builder, file name, the file keeps torchvision's fc)
    ("mgca-r50", mgca_r50, "MGCA-resnet50.ckpt", False),
    ("gloria", gloria, "GLoRIA.ckpt", False),
    ("convirt", convirt, "ConVIRT.pth", False),
    ("m-flag", mflag_total, "M-FLAG.pth", False),
    ("m-flag", mflag_encoder, "M-FLAG_encoder.pth", False),
    ("biovil", biovil, "biovil_image_resnet50_proj_size_128.pt", True),
]


@pytest.mark.parametrize(("name", "build", "file", "keep_fc"), RELEASES, ids=[f"{r[0]}:{r[2]}" for r in RELEASES])
def test_release_layout_loads_strictly_with_the_source_features(tmp_path, caplog, name, build, file, keep_fc):
    source = torchvision_resnet()
    path = save(build(encoder_state(source, keep_fc=keep_fc)), tmp_path / file)
    with caplog.at_level("INFO"):
        backbone = build_backbone(spec_for(name), path, strict=True).eval()
    assert_same_as_source(backbone, source)
    if build is not mflag_encoder:
        assert any("dropped" in r.getMessage() for r in caplog.records)  # the discarded heads are listed


@pytest.mark.parametrize("name", ["mgca-r50", "gloria", "convirt", "m-flag"])
def test_benchx_converted_resnet_loads_strictly(tmp_path, name):
    source = torchvision_resnet(seed=3)
    spec = spec_for(f"benchx:{name}")
    assert spec.weights.startswith("benchx/") and spec.adapt_state_dict.endswith(":adapt_benchx_resnet")
    path = save(encoder_state(source), tmp_path / spec.weights)  # convert_resnet: prefix stripped, bare torch.save
    assert_same_as_source(build_backbone(spec, path).eval(), source)


def medklip_source(seed: int = 0) -> nn.Module:
    return nn.Sequential(*list(torchvision_resnet(seed=seed).children())[:-3]).eval()


@pytest.mark.parametrize("benchx", [False, True])
def test_medklip_resnet_up_to_layer3(tmp_path, benchx):
    source = medklip_source()
    seq = {k: v.clone() for k, v in source.state_dict().items()}
    if benchx:  # convert_medklip: module.res_features. stripped, 0/1/4/5/6 → conv1/bn1/layer1-3
        names = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3"}
        path = save({names[k.split(".")[0]] + k[len(k.split(".")[0]):]: v for k, v in seq.items()},
                    tmp_path / "MedKLIP.pth")
    else:
        path = save(medklip(seq), tmp_path / "MedKLIP.pth")
    backbone = build_backbone(spec_for("benchx:medklip" if benchx else "medklip"), path, strict=True).eval()
    assert not any(k.startswith("layer4.") for k in backbone.encoder.state_dict())
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        feats = source(x)  # [B, 1024, H/16, W/16]
        maps = backbone.forward_multiscale(x)
        torch.testing.assert_close(backbone.forward_global(x), feats.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(maps[2], feats, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(maps[3], nn.functional.max_pool2d(feats, 2), rtol=1e-4, atol=1e-5)
    assert backbone.out_channels == [256, 512, 1024, 1024] and backbone.num_features == 1024


def test_mgca_r50_at_true_resnet50_shapes(tmp_path):
    source = torchvision_resnet(small=False)
    path = save(mgca_r50(encoder_state(source)), tmp_path / "MGCA-resnet50.ckpt")
    backbone = build_backbone(spec_for("mgca-r50", small=False), path, strict=True).eval()
    assert len(backbone.encoder.state_dict()) == len(encoder_state(source)) == 318  # torchvision resnet50 minus fc
    assert_same_as_source(backbone, source)


# --- wrong files --------------------------------------------------------------------------------------


def test_a_file_of_another_method_names_the_expected_prefix(tmp_path):
    path = save(gloria(encoder_state(torchvision_resnet())), tmp_path / "GLoRIA.ckpt")
    with pytest.raises(CheckpointError) as err:
        build_backbone(spec_for("mgca-r50"), path)
    message = str(err.value)
    assert "no key starts with 'img_encoder_q.model.'" in message and "gloria.*" in message


def test_missing_unexpected_and_wrong_shape_keys_are_named(tmp_path):
    enc = encoder_state(torchvision_resnet())
    del enc["layer4.0.conv2.weight"]
    enc["layer5.0.conv1.weight"] = torch.randn(8, 8, 1, 1)
    enc["layer1.0.bn1.weight"] = torch.randn(7)
    path = save(mgca_r50(enc), tmp_path / "MGCA-resnet50.ckpt")
    with pytest.raises(CheckpointError) as err:
        build_backbone(spec_for("mgca-r50"), path)
    message = str(err.value)
    assert str(path) in message
    assert "missing keys: layer4.0.conv2.weight" in message
    assert "unexpected keys: layer5.0.conv1.weight" in message
    assert "wrong-shape keys: layer1.0.bn1.weight (file (7,), model (16,))" in message


def test_a_medklip_file_with_a_foreign_sequential_index_is_named(tmp_path):
    seq = {k: v for k, v in medklip_source().state_dict().items()}
    seq["9.weight"] = torch.randn(3)
    with pytest.raises(CheckpointError, match=r"medklip: key '9.weight' is not a ResNet child"):
        build_backbone(spec_for("medklip"), save(medklip(seq), tmp_path / "MedKLIP.pth"))


def test_lightning_hyper_parameters_of_a_foreign_class_become_inert(tmp_path, caplog):
    """GLoRIA pickles its OmegaConf config next to the weights: the class is neither imported nor run."""
    path = save(gloria(encoder_state(torchvision_resnet())), tmp_path / "GLoRIA.ckpt")
    from ecamp_bench.models.checkpoints import load_state_dict_file

    with caplog.at_level("INFO"):
        state = load_state_dict_file(path)
    assert "gloria.img_encoder.model.conv1.weight" in state
    assert "omegaconf_standin" not in sys.modules
    assert any("omegaconf_standin.DictConfig" in r.getMessage() for r in caplog.records)


def test_list_backbones_groups_by_family_with_expected_file_and_presence(tmp_path, capsys, monkeypatch):
    from ecamp_bench.cli import main
    from ecamp_bench.paths import pretrained_dir

    monkeypatch.setenv("COLUMNS", "400")
    pretrained = pretrained_dir()
    pretrained.mkdir(parents=True, exist_ok=True)
    (pretrained / "MGCA-resnet50.ckpt").write_bytes(b"x")
    assert main(["list", "backbones"]) == 0
    out = capsys.readouterr().out
    resnet, vit = out.index("backbones: resnet family"), out.index("backbones: vit family")
    rows = {line.split("│")[1].strip(): (i, line) for i, line in enumerate(out.splitlines()) if line.count("│") > 3}
    lines = out.splitlines()
    first_vit_line = next(i for i, line in enumerate(lines) if "backbones: vit family" in line)
    assert resnet < vit
    assert f"{pretrained / 'MGCA-resnet50.ckpt'} (present)" in rows["mgca-r50"][1]
    assert f"{pretrained / 'GLoRIA.ckpt'} (missing)" in rows["gloria"][1]
    assert f"{pretrained / 'benchx' / 'MedKLIP.pth'} (missing)" in rows["benchx:medklip"][1]
    for name in ("mgca-r50", "gloria", "convirt", "medklip", "m-flag", "biovil", "imagenet-r50", "random-r50"):
        assert rows[name][0] < first_vit_line, name  # in the resnet table
    for name in ("mgca-vit", "mrm", "imagenet-vit-b16", "ecamp-official"):
        assert rows[name][0] > first_vit_line, name


def test_imagenet_r50_from_a_timm_safetensors_file_with_its_classifier(tmp_path):
    from safetensors.torch import save_file

    source = torchvision_resnet(seed=5)
    path = tmp_path / "resnet50.tv_in1k.safetensors"
    # timm hub file: fc kept
    save_file({k: v.contiguous() for k, v in encoder_state(source, keep_fc=True).items()}, str(path))
    backbone = build_backbone(spec_for("imagenet-r50"), path, strict=True).eval()
    assert_same_as_source(backbone, source)


def test_imagenet_vit_b16_from_a_timm_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    kwargs = {"depth": 2, "embed_dim": 32, "num_heads": 2}
    torch.manual_seed(0)
    source = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10, img_size=32, **kwargs).eval()
    path = tmp_path / "vit_base_patch16_224.augreg2_in21k_ft_in1k.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    spec = replace(spec_for("imagenet-vit-b16", small=False), input_size=32, model_kwargs=kwargs)
    backbone = build_backbone(spec, path, strict=True).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(backbone.forward_global(x),
                                   source.forward_head(source.forward_features(x), pre_logits=True))
    assert backbone.family == "vit" and spec.global_pool == "token"
