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
import types
from dataclasses import replace

import pytest
import torch
from torch import nn

import ecamp_bench  # noqa: F401  (torchvision hook before timm)
from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.plugins import load_catalog

SMALL = {"layers": (1, 1, 1, 1), "base_width": 16}  # timm resnet50 kwargs = torchvision ResNet(Bottleneck, [1]*4, width_per_group=16)
SIZE = 64


def torchvision_resnet(*, small: bool = True, seed: int = 0) -> nn.Module:
    """A torchvision ResNet-50 (or its small same-layout cousin) with every parameter and BN statistic random."""
    from torchvision.models.resnet import Bottleneck, ResNet

    model = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=16) if small else ResNet(Bottleneck, [3, 4, 6, 3])
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * (0.05 if t.ndim > 1 else 0.2))
    return model.eval()


def encoder_state(model: nn.Module, *, keep_fc: bool = False) -> dict[str, torch.Tensor]:
    """The encoder's state dict as the projects hold it: ``fc`` replaced by a parameter-free Identity unless kept."""
    return {k: v.clone() for k, v in model.state_dict().items() if keep_fc or not k.startswith("fc.")}


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


def spec_for(name: str, *, small: bool = True):
    spec = load_catalog(autoload=False).backbone(name)
    kwargs = {**spec.model_kwargs, **(SMALL if small else {})}
    return replace(spec, input_size=SIZE, model_kwargs=kwargs)


def lightning_checkpoint(state_dict: dict, hyper_parameters) -> dict:
    """What ``Trainer.save_checkpoint`` writes (PyTorch Lightning 1.x)."""
    return {
        "epoch": 49, "global_step": 12345, "pytorch-lightning_version": "1.5.9", "state_dict": state_dict,
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 2e-5}]}], "lr_schedulers": [],
        "hyper_parameters": hyper_parameters,
    }  # fmt: skip


# --- the published layouts ------------------------------------------------------------------------------


def mgca_r50(enc: dict) -> dict:
    """HKU-MedAI/MGCA ``mgca_module.py``: ``img_encoder_q`` (ImageEncoder: ``model``, ``global_embed``, ``local_embed``),
    ``text_encoder_q`` (BERT + heads), the local attention layers and the prototypes; a Lightning checkpoint."""
    sd = prefixed("img_encoder_q.model.", enc)
    sd.update({
        "img_encoder_q.global_embed.head.0.weight": torch.randn(2048, 2048), "img_encoder_q.global_embed.head.0.bias": torch.randn(2048),
        "img_encoder_q.global_embed.head.1.weight": torch.randn(2048), "img_encoder_q.global_embed.head.3.weight": torch.randn(128, 2048),
        "img_encoder_q.local_embed.head.0.weight": torch.randn(2048, 1024, 1), "img_encoder_q.local_embed.head.3.weight": torch.randn(128, 2048, 1),
        "text_encoder_q.model.encoder.layer.0.attention.self.query.weight": torch.randn(768, 768),
        "text_encoder_q.global_embed.head.0.weight": torch.randn(2048, 768),
        "patch_local_atten_layer.in_proj_weight": torch.randn(384, 128), "word_local_atten_layer.out_proj.weight": torch.randn(128, 128),
        "prototype_layer.weight": torch.randn(500, 128),
    })  # fmt: skip
    return lightning_checkpoint(sd, {"img_encoder": "resnet_50", "emb_dim": 128, "learning_rate": 2e-5})


def gloria(enc: dict) -> dict:
    """marshuang80/gloria ``PretrainModel.gloria`` → ``img_encoder`` (``model``, ``global_embedder``, ``local_embedder``)
    and ``text_encoder``; Lightning checkpoint whose ``hyper_parameters`` is the OmegaConf config (a pickled class)."""
    sd = prefixed("gloria.img_encoder.model.", enc)
    sd.update({
        "gloria.img_encoder.global_embedder.weight": torch.randn(768, 2048), "gloria.img_encoder.global_embedder.bias": torch.randn(768),
        "gloria.img_encoder.local_embedder.weight": torch.randn(768, 1024, 1, 1),
        "gloria.text_encoder.model.embeddings.position_embeddings.weight": torch.randn(512, 768),
    })  # fmt: skip
    return lightning_checkpoint(sd, foreign_config(model={"vision": {"model_name": "resnet_50"}}, transforms={"norm": "half"}))


def convirt(enc: dict) -> dict:
    """BenchX ConVIRT (ViLMedic): ``visual.model`` (ResNet children up to avgpool), ``linguistic``, projections; key ``model``."""
    sd = prefixed("visual.model.", enc)
    sd.update({
        "vis_proj.0.weight": torch.randn(512, 2048), "vis_proj.2.weight": torch.randn(512, 512),
        "lin_proj.0.weight": torch.randn(512, 768), "linguistic.encoder.encoder.layer.0.output.dense.weight": torch.randn(768, 3072),
    })  # fmt: skip
    return {"model": sd}


def mflag_total(enc: dict) -> dict:
    """M-FLAG ``<name>_total.pth``: ``model.module.state_dict()`` of ``ResNet_CXRBert`` (``encoder``, ``proj_v``, ``proj_t``, ``lm_model``)."""
    sd = prefixed("encoder.", enc)
    sd.update({
        "proj_v.0.weight": torch.randn(2048, 2048), "proj_v.3.weight": torch.randn(1024, 2048),
        "proj_v.4.running_mean": torch.randn(1024), "proj_t.0.weight": torch.randn(2048, 768),
        "lm_model.bert.encoder.layer.0.attention.self.key.weight": torch.randn(768, 768),
    })  # fmt: skip
    return sd


def mflag_encoder(enc: dict) -> dict:
    """M-FLAG ``<name>_encoder.pth``: ``model.module.encoder.state_dict()`` (the bare torchvision encoder)."""
    return dict(enc)


def biovil(enc_with_fc: dict) -> dict:
    """hi-ml ``ImageModel``: ``encoder.encoder`` (ResNetHIML, unused ``fc`` kept) and ``projector.model`` (1×1-conv MLP)."""
    sd = prefixed("encoder.encoder.", enc_with_fc)
    sd.update({
        "projector.model.0.weight": torch.randn(128, 2048, 1, 1), "projector.model.1.weight": torch.randn(128),
        "projector.model.1.running_var": torch.rand(128) + 0.5, "projector.model.3.weight": torch.randn(128, 128, 1, 1),
    })  # fmt: skip
    return sd


def medklip(seq_state: dict) -> dict:
    """MediaBrain-SJTU/MedKLIP ``train_MedKLIP.py``: ``{"model": DDP state_dict, ...}``; ``res_features`` = ResNet children[:-3]."""
    sd = prefixed("module.res_features.", seq_state)
    sd.update({
        "module.res_l1.weight": torch.randn(1024, 1024), "module.res_l2.weight": torch.randn(256, 1024),
        "module.disease_embedding_layer.weight": torch.randn(256, 768), "module.cl_fc.weight": torch.randn(768, 256),
        "module.decoder.layers.0.self_attn.in_proj_weight": torch.randn(768, 256), "module.classifier.weight": torch.randn(2, 256),
    })  # fmt: skip
    return {"model": sd, "optimizer": {"state": {}, "param_groups": []}, "epoch": 100, "config": {"res_base_model": "resnet50"}}


def foreign_config(**values):
    """An object of a class from a package that is not installed (as OmegaConf's DictConfig is not, here)."""
    module = types.ModuleType("omegaconf_standin")
    DictConfig = type("DictConfig", (dict,), {"__module__": "omegaconf_standin"})
    module.DictConfig = DictConfig
    sys.modules["omegaconf_standin"] = module  # only while pickling; removed again by the caller's save()
    return DictConfig(values)


def save(obj, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    sys.modules.pop("omegaconf_standin", None)  # the loader must not be able to import it
    return path


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
        path = save({names[k.split(".")[0]] + k[len(k.split(".")[0]):]: v for k, v in seq.items()}, tmp_path / "MedKLIP.pth")
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
