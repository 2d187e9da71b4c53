"""ResNet-50 checkpoints in the published layouts of MGCA, GLoRIA, ConVIRT (BenchX), M-FLAG, BioViL and MedKLIP.

Each builder takes the encoder's state dict (torchvision names) and returns what the project writes (random
values; the encoder tensors have the architecture's shapes, the dropped extras representative shapes).
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import torch
from torch import nn

from ecamp_bench.plugins import load_catalog

# timm resnet50 kwargs = torchvision ResNet(Bottleneck, [1]*4, width_per_group=16)
SMALL = {"layers": (1, 1, 1, 1), "base_width": 16}
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
    }


# --- the published layouts ------------------------------------------------------------------------------


def mgca_r50(enc: dict) -> dict:
    """HKU-MedAI/MGCA ``mgca_module.py``: ``img_encoder_q`` (ImageEncoder: ``model``, ``global_embed``,
    ``local_embed``),
    ``text_encoder_q`` (BERT + heads), the local attention layers and the prototypes; a Lightning checkpoint."""
    sd = prefixed("img_encoder_q.model.", enc)
    sd.update({
        "img_encoder_q.global_embed.head.0.weight": torch.randn(2048, 2048),
        "img_encoder_q.global_embed.head.0.bias": torch.randn(2048),
        "img_encoder_q.global_embed.head.1.weight": torch.randn(2048),
        "img_encoder_q.global_embed.head.3.weight": torch.randn(128, 2048),
        "img_encoder_q.local_embed.head.0.weight": torch.randn(2048, 1024, 1),
        "img_encoder_q.local_embed.head.3.weight": torch.randn(128, 2048, 1),
        "text_encoder_q.model.encoder.layer.0.attention.self.query.weight": torch.randn(768, 768),
        "text_encoder_q.global_embed.head.0.weight": torch.randn(2048, 768),
        "patch_local_atten_layer.in_proj_weight": torch.randn(384, 128),
        "word_local_atten_layer.out_proj.weight": torch.randn(128, 128),
        "prototype_layer.weight": torch.randn(500, 128),
    })
    return lightning_checkpoint(sd, {"img_encoder": "resnet_50", "emb_dim": 128, "learning_rate": 2e-5})


def gloria(enc: dict) -> dict:
    """marshuang80/gloria ``PretrainModel.gloria`` → ``img_encoder`` (``model``, ``global_embedder``,
    ``local_embedder``)
    and ``text_encoder``; Lightning checkpoint whose ``hyper_parameters`` is the OmegaConf config (a pickled class)."""
    sd = prefixed("gloria.img_encoder.model.", enc)
    sd.update({
        "gloria.img_encoder.global_embedder.weight": torch.randn(768, 2048),
        "gloria.img_encoder.global_embedder.bias": torch.randn(768),
        "gloria.img_encoder.local_embedder.weight": torch.randn(768, 1024, 1, 1),
        "gloria.text_encoder.model.embeddings.position_embeddings.weight": torch.randn(512, 768),
    })
    return lightning_checkpoint(sd, foreign_config(model={"vision": {"model_name": "resnet_50"}},
                                                   transforms={"norm": "half"}))


def convirt(enc: dict) -> dict:
    """BenchX ConVIRT (ViLMedic): ``visual.model`` (ResNet children up to avgpool), ``linguistic``, projections;
    key ``model``."""
    sd = prefixed("visual.model.", enc)
    sd.update({
        "vis_proj.0.weight": torch.randn(512, 2048), "vis_proj.2.weight": torch.randn(512, 512),
        "lin_proj.0.weight": torch.randn(512, 768),
        "linguistic.encoder.encoder.layer.0.output.dense.weight": torch.randn(768, 3072),
    })
    return {"model": sd}


def mflag_total(enc: dict) -> dict:
    """M-FLAG ``<name>_total.pth``: ``model.module.state_dict()`` of ``ResNet_CXRBert`` (``encoder``, ``proj_v``,
    ``proj_t``, ``lm_model``)."""
    sd = prefixed("encoder.", enc)
    sd.update({
        "proj_v.0.weight": torch.randn(2048, 2048), "proj_v.3.weight": torch.randn(1024, 2048),
        "proj_v.4.running_mean": torch.randn(1024), "proj_t.0.weight": torch.randn(2048, 768),
        "lm_model.bert.encoder.layer.0.attention.self.key.weight": torch.randn(768, 768),
    })
    return sd


def mflag_encoder(enc: dict) -> dict:
    """M-FLAG ``<name>_encoder.pth``: ``model.module.encoder.state_dict()`` (the bare torchvision encoder)."""
    return dict(enc)


def biovil(enc_with_fc: dict) -> dict:
    """hi-ml ``ImageModel``: ``encoder.encoder`` (ResNetHIML, unused ``fc`` kept) and ``projector.model``
    (1×1-conv MLP)."""
    sd = prefixed("encoder.encoder.", enc_with_fc)
    sd.update({
        "projector.model.0.weight": torch.randn(128, 2048, 1, 1), "projector.model.1.weight": torch.randn(128),
        "projector.model.1.running_var": torch.rand(128) + 0.5, "projector.model.3.weight": torch.randn(128, 128, 1, 1),
    })
    return sd


def medklip(seq_state: dict) -> dict:
    """MediaBrain-SJTU/MedKLIP ``train_MedKLIP.py``: ``{"model": DDP state_dict, ...}``; ``res_features`` =
    ResNet children[:-3]."""
    sd = prefixed("module.res_features.", seq_state)
    sd.update({
        "module.res_l1.weight": torch.randn(1024, 1024), "module.res_l2.weight": torch.randn(256, 1024),
        "module.disease_embedding_layer.weight": torch.randn(256, 768), "module.cl_fc.weight": torch.randn(768, 256),
        "module.decoder.layers.0.self_attn.in_proj_weight": torch.randn(768, 256),
        "module.classifier.weight": torch.randn(2, 256),
    })
    return {"model": sd, "optimizer": {"state": {}, "param_groups": []}, "epoch": 100,
            "config": {"res_base_model": "resnet50"}}


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
