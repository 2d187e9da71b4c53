"""ResNet-50 image encoders of the published chest X-ray methods, imported from their **released files** (never
downloaded). Put the file in ``pretrained/`` under the name below (``ecamp-bench list backbones`` shows the
expected path and whether it is present) or pass ``--weights PATH``.

Every importer maps the file onto timm's ``resnet50`` (torchvision parameter names: ``conv1``, ``bn1``,
``layer1``-``layer4`` with ``downsample.0/1``; 3/4/6/3 bottlenecks; no ``fc``) and loads it strictly; the
key mapping is the ``adapt_*`` functions below. The multi-scale maps are the stages
C2-C5 (``layer1``-``layer4``, strides 4-32, 256/512/1024/2048 channels), so ``frozen-det`` with these
backbones is MGCA's detector (YOLOv3 on a frozen ResNet-50's C3-C5, ``mgca/models/backbones/detector_backbone.py``).
Normalisation: the one each method trained with (grayscale replicated to 3 channels). Input size: the
pre-training crop. Sources were read at the commits of the public repositories named below.

Expected layouts (what the file holds → what is kept):

``mgca-r50`` — ``MGCA-resnet50.ckpt`` (HKU-MedAI/MGCA ``mgca/models/mgca/mgca_module.py``, a PyTorch Lightning
checkpoint ``{"state_dict", "epoch", "global_step", "hyper_parameters", "optimizer_states", ...}``). The image
encoder (``mgca/models/backbones/encoder.py::ImageEncoder`` → ``cnn_backbones.resnet_50``: torchvision
``resnet50`` with ``fc`` replaced by a parameter-free ``Identity``) is under ``img_encoder_q.model.`` —
the prefix MGCA's own ``mgca_detector.py`` strips. Dropped: ``img_encoder_q.global_embed.head.*`` and
``local_embed.head.*`` (projection heads), ``text_encoder_q.*``, ``patch_local_atten_layer.*``,
``word_local_atten_layer.*``, ``prototype_layer.*``. Mean/std 0.5 (``mgca/datasets/transforms.py``); 224 px.

``gloria`` — ``GLoRIA.ckpt`` (marshuang80/gloria, the CheXpert-pretrained ``chexpert_resnet50.ckpt``; Lightning
checkpoint, key ``state_dict``; ``gloria/builder.py::build_gloria_from_ckpt``). ``PretrainModel.gloria`` →
``GLoRIA.img_encoder`` (``gloria/models/vision_model.py::ImageEncoder``) → ``.model`` = torchvision
``resnet50`` with a parameter-free ``Identity`` ``fc`` (``gloria/models/cnn_backbones.py``): prefix
``gloria.img_encoder.model.``. Dropped: ``gloria.img_encoder.global_embedder.*`` (Linear 2048→768),
``local_embedder.weight`` (1×1 conv 1024→768), ``gloria.text_encoder.*``. Mean/std 0.5 (``transforms.norm:
half`` in ``configs/chexpert_pretrain_config.yaml``, ``build_transformation``); 224 px crop.

``convirt`` — ``ConVIRT.pth``: ConVIRT's authors released no weights; the file the field uses is BenchX's
re-training (yangzhou12/BenchX ``unifier/models/vilmedic/ConVIRT.py``, loaded by
``unifier/models/vlm_src/ConVIRT/builder.py`` from key ``model``). ``ConVIRT.visual`` is a ViLMedic
``VisualEncoder`` whose ``.model`` is ``nn.Sequential(OrderedDict(resnet50.named_children()))`` up to
``avgpool`` (``unifier/blocks/vision/visual_encoder.py``), so the names stay torchvision's: prefix
``visual.model.``. Dropped: ``linguistic.*`` (BERT), ``vis_proj.*``, ``lin_proj.*``. Mean/std: ImageNet
(BenchX's CXR transforms; not stated in the file — an assumption); 224 px.

``medklip`` — ``MedKLIP.pth`` (MediaBrain-SJTU/MedKLIP ``PreTrain_MedKLIP/train_MedKLIP.py``: ``torch.save``
of ``{"model": state_dict, "optimizer", "lr_scheduler", "config", "epoch"}`` from a DDP model, so every key
starts with ``module.``). ``models/model_MedKLIP.py``: ``res_features = nn.Sequential(*list(resnet50.children())[:-3])``
— the ResNet-50 **up to ``layer3``** (no ``layer4``): indices ``0`` conv1, ``1`` bn1, ``4``-``6`` layer1-3
(2 relu and 3 maxpool hold no parameters), renamed as BenchX's ``convert_medklip`` does. The backbone is
timm's ``resnet50`` built with ``features_only=True, out_indices=(1, 2, 3)`` (the same truncation, names
unchanged): global feature = the average of ``layer3`` (1024-d, MedKLIP's patch features), stride-32 map =
``layer3`` max-pooled. Dropped: ``res_l1.*``, ``res_l2.*`` (patch projection), ``disease_embedding_layer.*``,
``cl_fc.*``, ``decoder.*``, ``classifier.*``. Mean/std: ImageNet (``PreTrain_MedKLIP/dataset/dataset.py``); 224 px.

``m-flag`` — ``M-FLAG.pth`` (cheliu-computation/M-FLAG-MICCAI2023 ``utils/utils_trainer.py``): either the
final ``<name>_total.pth`` (``model.module.state_dict()`` of ``ResNet_CXRBert``, ``utils/utils_builder.py``:
``encoder`` = torchvision ``resnet50`` with ``fc = nn.Identity()``; prefix ``encoder.``; dropped ``proj_v.*``,
``proj_t.*``, ``lm_model.*``), the file BenchX uses, or ``<name>_encoder.pth`` (the bare encoder, names
already torchvision's). Mean/std 0.5 (``utils/utils_dataset.py``); 224 px.

``biovil`` — ``biovil_image_resnet50_proj_size_128.pt`` (microsoft/hi-ml ``hi-ml-multimodal``,
``health_multimodal/image/model/model.py::ImageModel``, loaded with ``load_state_dict`` as a plain state dict):
``ImageModel.encoder`` (``ImageEncoder``) → ``.encoder`` = ``ResNetHIML``, a torchvision ``ResNet`` subclass
that keeps the unused ImageNet ``fc``: prefix ``encoder.encoder.``; dropped ``encoder.encoder.fc.*`` and
``projector.model.*`` (1×1-conv MLP to 128-d). No mean/std normalisation: pixels in [0, 1]
(``image/data/transforms.py::create_chest_xray_transform_for_inference``: Resize 512, CenterCrop 480, ToTensor);
480 px.

``benchx:<name>`` — the files written by BenchX's ``preprocess/model_converters/medvlm2mmseg.py`` (``convert_resnet``:
the prefixes above stripped, nothing renamed; ``convert_medklip``: ``module.res_features.`` stripped and
``0/1/4/5/6`` renamed to ``conv1/bn1/layer1-3``), a bare ``torch.save`` of the state dict under the source's
file name in ``pretrained/benchx/``. BioViL has no BenchX conversion (``res2mmseg.py`` names its prefix
``encoder.encoder`` only in a comment). Normalisation and size of the source method.

Each ``adapt_*`` is a ``BackboneSpec.adapt_state_dict`` target, ``fn(state_dict, model) -> state_dict``, called
after the file was read with ``torch.load(weights_only=True)`` and unwrapped (``state_dict`` / ``model`` key); the
result is loaded **strictly**. Steps: (1) strip DDP's ``module.`` when every key has it; (2) keep the keys under
the project's encoder prefix, with the prefix removed; (3) drop an ImageNet classifier ``fc.*`` left in the encoder
(BioViL); (4) rename ``nn.Sequential`` indices to names for encoders kept as ``children()[:-3]`` (MedKLIP);
(5) log every discarded key in one line, grouped (:func:`ecamp_bench.models.importers.log_dropped`). A file
without the prefix is refused with an error that names the prefix and summarises the keys the file has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ecamp_bench.api import BackboneSpec, hookimpl
from ecamp_bench_plugins.backbones.release import BENCHX, HALF, IMAGENET_MEAN, IMAGENET_STD, release_spec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ecamp_bench.models.importers import State

ARCH = "resnet50"
_ADAPT = "ecamp_bench_plugins.backbones.resnet50:"
UP_TO_LAYER3 = {"features_only": True, "out_indices": (1, 2, 3)}

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

#: name → (file, adapter, mean, std, input size, model kwargs, citation, description)
_MODELS = {
    "mgca-r50": ("MGCA-resnet50.ckpt", "adapt_mgca_r50", HALF, HALF, 224, {},
                 "Wang et al., MGCA, NeurIPS 2022 (HKU-MedAI/MGCA)",
                 "MGCA ResNet-50 Lightning checkpoint (img_encoder_q.model.*)"),
    "gloria": ("GLoRIA.ckpt", "adapt_gloria", HALF, HALF, 224, {},
               "Huang et al., GLoRIA, ICCV 2021 (marshuang80/gloria)",
               "GLoRIA CheXpert-pretrained ResNet-50 Lightning checkpoint (gloria.img_encoder.model.*)"),
    "convirt": ("ConVIRT.pth", "adapt_convirt", IMAGENET_MEAN, IMAGENET_STD, 224, {},
                "Zhang et al., ConVIRT, MLHC 2022; weights re-trained by BenchX (yangzhou12/BenchX)",
                "ConVIRT ResNet-50 (BenchX/ViLMedic, key 'model', visual.model.*)"),
    "medklip": ("MedKLIP.pth", "adapt_medklip", IMAGENET_MEAN, IMAGENET_STD, 224, UP_TO_LAYER3,
                "Wu et al., MedKLIP, ICCV 2023 (MediaBrain-SJTU/MedKLIP)",
                "MedKLIP ResNet-50 up to layer3 (module.res_features.*)"),
    "m-flag": ("M-FLAG.pth", "adapt_mflag", HALF, HALF, 224, {},
               "Liu et al., M-FLAG, MICCAI 2023 (cheliu-computation/M-FLAG-MICCAI2023)",
               "M-FLAG ResNet-50 (encoder.* of the total model, or the bare encoder file)"),
    "biovil": ("biovil_image_resnet50_proj_size_128.pt", "adapt_biovil", (0.0,) * 3, (1.0,) * 3, 480, {},
               "Boecking et al., BioViL, ECCV 2022 (microsoft/hi-ml, hi-ml-multimodal)",
               "BioViL image encoder ResNet-50 (encoder.encoder.*; no mean/std normalisation)"),
}


def select_encoder(state: Mapping[str, torch.Tensor], prefix: str, source: str,
                   hint: str) -> tuple[State, list[str]]:
    """``(keys under prefix with it removed, every other key)`` after DDP stripping; no such key is a
    CheckpointError."""
    from ecamp_bench.errors import CheckpointError
    from ecamp_bench.models.importers import strip_ddp_prefix, strip_prefix, summarize_keys

    state = strip_ddp_prefix(state)
    kept, others = strip_prefix(state, prefix)
    if not kept:
        raise CheckpointError(
            f"{source}: no key starts with '{prefix}' (the file has {summarize_keys(state) or 'no keys'}); {hint}"
        )
    return kept, others


def _finish(kept: State, others: list[str], source: str) -> State:
    """``kept`` without a classifier ``fc.*``; everything discarded (``others`` too) logged in one line."""
    from ecamp_bench.models.importers import drop_prefixes, log_dropped

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
    from ecamp_bench.models.importers import strip_ddp_prefix

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
    from ecamp_bench.errors import CheckpointError

    renamed: State = {}
    for key, value in state.items():
        index, _, rest = key.partition(".")
        if index not in SEQUENTIAL_TO_RESNET:
            raise CheckpointError(f"{source}: key '{key}' is not a ResNet child "
                                  f"(expected one of {sorted(SEQUENTIAL_TO_RESNET)})")
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
    from ecamp_bench.models.importers import strip_ddp_prefix

    return _finish(strip_ddp_prefix(state), [], "benchx")


def _spec(name: str, weights: str, adapt: str, mean, std, size: int, kwargs: dict, citation: str,
          description: str) -> BackboneSpec:
    return release_spec(ARCH, _ADAPT + adapt, name, weights, mean, std, citation, description, input_size=size,
                        model_kwargs=kwargs)


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """The six ResNet-50 release files and BenchX's converted copies of the five BenchX evaluates."""
    specs = [_spec(name, *entry) for name, entry in _MODELS.items()]
    for name, (file, adapt, mean, std, size, kwargs, citation, _) in _MODELS.items():
        if name == "biovil":
            continue
        specs.append(_spec(f"benchx:{name}", f"benchx/{file}", "adapt_benchx_resnet", mean, std, size, kwargs,
                           f"{BENCHX}; {citation}",
                           f"BenchX medvlm2mmseg-converted {name} ResNet-50 (bare state dict)"))
    return specs
