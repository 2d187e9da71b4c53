"""Key mapping for the released ResNet-50 image encoders: from each project's checkpoint to timm ``resnet50`` names.

timm's ``resnet50`` uses torchvision's parameter names (``conv1``, ``bn1``, ``layer1.0.conv1`` ...,
``layer1.0.downsample.0/1``, ``layer4.2.bn3``; the classifier ``fc`` is absent with ``num_classes=0``), so
every importer only has to find the encoder inside the project's file, strip its prefix and drop the rest.
Each ``adapt_*`` is a ``BackboneSpec.adapt_state_dict`` target, ``fn(state_dict, model) -> state_dict``,
called after the file was read with ``torch.load(weights_only=True)`` and unwrapped (``state_dict`` /
``model`` key); the result is loaded **strictly**. The expected layouts, with the source files they were
read from, are written down in ``ecamp_bench_plugins.backbones.resnet50``.

Steps: (1) strip DDP's ``module.`` when every key has it; (2) keep the keys under the project's encoder
prefix, with the prefix removed; (3) drop an ImageNet classifier ``fc.*`` left in the encoder (BioViL);
(4) rename ``nn.Sequential`` indices to names for encoders kept as ``children()[:-3]`` (MedKLIP);
(5) log every discarded key in one line, grouped. A file without the prefix is refused with an error that
names the prefix and summarises the keys the file has.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.importers import State, drop_prefixes, log_dropped, strip_ddp_prefix, strip_prefix, summarize_keys

#: The ImageNet classifier of a torchvision ResNet, never part of the backbone.
RESNET_CLASSIFIER = ("fc.",)
#: ``nn.Sequential(*list(resnet50.children())[:-3])`` (MedKLIP's ``res_features``): index → torchvision name.
SEQUENTIAL_TO_RESNET = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}

MGCA_PREFIX = "img_encoder_q.model."
GLORIA_PREFIX = "gloria.img_encoder.model."
CONVIRT_PREFIX = "visual.model."
MEDKLIP_PREFIX = "res_features."
MFLAG_PREFIX = "encoder."
BIOVIL_PREFIX = "encoder.encoder."


def select_encoder(state: Mapping[str, torch.Tensor], prefix: str, source: str, hint: str) -> tuple[State, list[str]]:
    """``(keys under prefix with it removed, every other key)`` after DDP stripping; no such key is a CheckpointError."""
    state = strip_ddp_prefix(state)
    kept, others = strip_prefix(state, prefix)
    if not kept:
        raise CheckpointError(
            f"{source}: no key starts with '{prefix}' (the file has {summarize_keys(state) or 'no keys'}); {hint}"
        )
    return kept, others


def _finish(kept: State, others: list[str], source: str) -> State:
    kept, classifier = drop_prefixes(kept, RESNET_CLASSIFIER)
    log_dropped(source, others + classifier)
    return kept


def adapt_mgca_r50(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """MGCA ResNet-50 Lightning ``state_dict`` → timm: ``img_encoder_q.model.*`` stripped, the rest dropped."""
    kept, others = select_encoder(state, MGCA_PREFIX, "mgca-r50", "is this MGCA's ResNet-50 Lightning checkpoint?")
    return _finish(kept, others, "mgca-r50")


def adapt_gloria(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """GLoRIA Lightning ``state_dict`` → timm: ``gloria.img_encoder.model.*`` stripped, the rest dropped."""
    kept, others = select_encoder(state, GLORIA_PREFIX, "gloria", "is this GLoRIA's chexpert_resnet50.ckpt?")
    return _finish(kept, others, "gloria")


def adapt_convirt(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """BenchX's ConVIRT (ViLMedic model, key ``model``) → timm: ``visual.model.*`` stripped, the rest dropped."""
    kept, others = select_encoder(state, CONVIRT_PREFIX, "convirt", "is this BenchX's ConVIRT.pth?")
    return _finish(kept, others, "convirt")


def adapt_mflag(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """M-FLAG → timm: the whole model (``encoder.*`` stripped) or the bare ``*_encoder.pth`` (names already timm's)."""
    if any(k.startswith(MFLAG_PREFIX) for k in strip_ddp_prefix(state)):
        kept, others = select_encoder(state, MFLAG_PREFIX, "m-flag", "")
        return _finish(kept, others, "m-flag")
    return _finish(strip_ddp_prefix(state), [], "m-flag")


def adapt_biovil(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """BioViL ``biovil_image_resnet50_proj_size_128.pt`` → timm: ``encoder.encoder.*`` stripped; ``fc.*`` and
    ``projector.*`` dropped."""
    kept, others = select_encoder(state, BIOVIL_PREFIX, "biovil", "is this biovil_image_resnet50_proj_size_128.pt?")
    return _finish(kept, others, "biovil")


def rename_sequential(state: Mapping[str, torch.Tensor], source: str) -> State:
    """``0.*``/``1.*``/``4.*``-``7.*`` (a ResNet kept as ``nn.Sequential(children())``) → torchvision names."""
    renamed: State = {}
    for key, value in state.items():
        index, _, rest = key.partition(".")
        if index not in SEQUENTIAL_TO_RESNET:
            raise CheckpointError(f"{source}: key '{key}' is not a ResNet child (expected one of {sorted(SEQUENTIAL_TO_RESNET)})")
        renamed[f"{SEQUENTIAL_TO_RESNET[index]}.{rest}"] = value
    return renamed


def adapt_medklip(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """MedKLIP ``checkpoint_final.pth`` (key ``model``, DDP ``module.``) → timm ResNet-50 cut after ``layer3``:
    ``res_features.{0,1,4,5,6}`` → ``conv1``, ``bn1``, ``layer1``-``layer3``; ``res_l1``/``res_l2``, the query
    decoder, classifier and embeddings dropped."""
    kept, others = select_encoder(state, MEDKLIP_PREFIX, "medklip", "is this MedKLIP's checkpoint?")
    return _finish(rename_sequential(kept, "medklip"), others, "medklip")


def adapt_benchx_resnet(state: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """A BenchX ``medvlm2mmseg.convert_resnet``/``convert_medklip`` output: a bare state dict, torchvision names."""
    return _finish(strip_ddp_prefix(state), [], "benchx")
