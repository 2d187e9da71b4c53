"""Backbones that import the **released checkpoint files** of published methods (nothing is downloaded).

Put the file in ``pretrained/`` under the name below (``ecamp-bench list backbones`` shows the expected
path and whether it is present) or pass ``--weights PATH``. Every importer maps the file onto a timm
``vit_base_patch16_224`` (768-d, 12 blocks, 12 heads, LayerNorm eps 1e-6, qkv bias) and loads it
strictly. The adapters below (``adapt_*``) hold each release's key mapping; they use the shared key toolkit of
:mod:`ecamp_bench.models.importers` (prefix stripping, mmseg → timm renames, channel and ``pos_embed``
conversion, one log line of dropped keys). Shared conventions:

- timm names: ``cls_token`` [1,1,768], ``pos_embed`` [1,197,768] (CLS + 14×14; resampled with timm's
  ``resample_abs_pos_embed`` when the evaluation grid differs), ``patch_embed.proj.{weight [768,3,16,16],bias}``
  (a 1-channel weight is repeated and divided by 3), ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``
  and the final ``norm.*``; a classifier ``head.*`` is always dropped.
- ``norm`` vs ``fc_norm``: the released files are pre-training checkpoints whose final ``norm`` is applied
  to every token, and the harness builds the ViT with ``fc_norm=False`` so ``norm.*`` loads as is and
  global average pooling runs over normalised patch tokens. (The reference fine-tuning code instead drops
  ``norm`` and trains a fresh ``fc_norm`` after pooling; a *fine-tuned* file with ``fc_norm.*`` is refused
  with a hint to ``--set backbone.model_kwargs.fc_norm=true``.)
- Normalisation is the one each method trained with (grayscale replicated to 3 channels).

Expected layouts:

``ecamp-official`` — ``ECAMP_ViT_Base_16.pth`` (ToniChopp/ECAMP, ``module/model_ecamp.py``): ``torch.save``
of ``{"model": state_dict, ...}``. Encoder keys are already timm's. Dropped (one log line): MAE decoder
``decoder_embed.*``, ``decoder_pos_embed``, ``decoder_blocks.0-3.*`` (512-d), ``decoder_norm.*``,
``decoder_pred.*`` [768,512]; ``mask_token``; super-resolution head ``super_res.conv1/conv2.*`` (3→3, 3×3);
multimodal BERT ``bert_encoder.*`` and ``bert_mlp.*`` [768,768]. Mean 0.4722, std 0.3028; avg pooling.

``mrm`` — ``MRM.pth`` (RL4M/MRM-pytorch, ``model_mrm.py``): ``{"model": state_dict}``, timm encoder keys.
Dropped: ``decoder_*`` (768-d, 4 blocks, ``decoder_pred`` [3072,768] predicting 32×32 patches),
``mask_token``, ``bert_encoder.*``, ``bert_mlp.*`` [384,768]. BenchX's copy with the encoder under
``vision_encoder.visual.`` is accepted too. Mean 0.4978, std 0.2449; avg pooling.

``mae`` — ``mae_pretrain_vit_base.pth`` (facebookresearch/mae): ``{"model": encoder state_dict}`` with timm
names; ``decoder_*``/``mask_token`` are dropped if present (the "visualize" variant). ImageNet mean/std;
avg pooling (MAE fine-tuning). The initialisation ECAMP and MRM start from.

``mgca-vit`` — ``MGCA-vit.ckpt`` (HKU-MedAI/MGCA): a PyTorch Lightning checkpoint ``{"state_dict": ...,
"epoch", "global_step", "hyper_parameters", "optimizer_states", ...}``. The image ViT (BLIP-style, timm
names, no head) is under ``img_encoder_q.model.``; everything else is dropped: ``img_encoder_q.global_embed.*``
and ``local_embed.*`` (projection heads), ``text_encoder_q.*`` (BioClinicalBERT and its heads),
``patch_local_atten_layer.*``, ``word_local_atten_layer.*``, ``prototype_layer.*``. Mean 0.5, std 0.5;
CLS-token pooling (MGCA's global image feature is ``x[:, 0]`` after the final norm).

``benchx:mgca-vit`` / ``benchx:mrm`` — the files written by BenchX's
``preprocess/model_converters/medvlm2mmseg.py`` (``convert_vit``): a bare ``torch.save`` of an mmseg
``VisionTransformer`` state dict under the source's file name (expected in ``pretrained/benchx/``).
Renamed back: ``patch_embed.projection`` → ``patch_embed.proj``; ``layers.N.ln1/ln2`` → ``blocks.N.norm1/norm2``;
``layers.N.attn.attn.in_proj_{weight,bias}`` → ``blocks.N.attn.qkv.*`` (same q|k|v stacking);
``attn.attn.out_proj`` → ``attn.proj``; ``ffn.layers.0.0`` → ``mlp.fc1``; ``ffn.layers.1`` → ``mlp.fc2``;
top-level ``ln1`` → ``norm``. Normalisation and pooling of the source method.
Not provided: BenchX's REFERS (converted from a different ViT implementation whose extra keys and
training normalisation we cannot state), PTUnifier (CLIP-style ViT: ``ln_pre``, bias-free patch
embedding, QuickGELU, visual ``proj``: not a plain timm ViT-B/16), MedCLIP-ViT (a Swin transformer) and
MedCLIP-R50 (a HuggingFace-wrapped ResNet). The ResNet-50 models (ConVIRT, GLoRIA, MGCA-R50, MedKLIP, M-FLAG,
BioViL) are in ``ecamp_bench_plugins.backbones.resnet50``, the ImageNet initialisations in
``ecamp_bench_plugins.backbones.imagenet``.
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

ARCH = "vit_base_patch16_224"
_ADAPT = "ecamp_bench_plugins.backbones.published:"
ECAMP_MEAN, ECAMP_STD = (0.4722,) * 3, (0.3028,) * 3
MRM_MEAN, MRM_STD = (0.4978,) * 3, (0.2449,) * 3


#: Keys of a MAE-style pre-training model that are not part of the ViT encoder.
MAE_PRETRAIN_ONLY = ("decoder_", "mask_token")
#: ECAMP's pre-training extras: MAE decoder, super-resolution head, multimodal BERT and its input projection.
ECAMP_PRETRAIN_ONLY = (*MAE_PRETRAIN_ONLY, "super_res.", "bert_encoder.", "bert_mlp.")
#: MRM's pre-training extras: MAE decoder, BERT report decoder and its input projection.
MRM_PRETRAIN_ONLY = (*MAE_PRETRAIN_ONLY, "bert_encoder.", "bert_mlp.")
#: A classifier left in a fine-tuned checkpoint is never part of the backbone.
CLASSIFIER = ("head.",)
MGCA_IMAGE_PREFIX = "img_encoder_q.model."


def _mae_style(state: Mapping[str, torch.Tensor], vit: nn.Module, source: str, extras: tuple[str, ...]) -> State:
    """Encoder keys already timm's: DDP's ``module.`` stripped, ``extras`` and the classifier dropped, then
    :func:`~ecamp_bench.models.importers.finish` (channels, ``pos_embed``, final-norm check)."""
    from ecamp_bench.models.importers import drop_prefixes, finish, strip_ddp_prefix

    kept, dropped = drop_prefixes(strip_ddp_prefix(state), (*extras, *CLASSIFIER))
    return finish(kept, vit, source, dropped)


def adapt_ecamp_official(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """``ECAMP_ViT_Base_16.pth`` → timm: drop decoder, mask token, SR head and BERT; names are already timm's."""
    return _mae_style(state, vit, "ecamp-official", ECAMP_PRETRAIN_ONLY)


def adapt_mrm(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """``MRM.pth`` → timm: drop decoder, mask token and BERT (also accepts BenchX's ``vision_encoder.visual.``)."""
    from ecamp_bench.models.importers import drop_prefixes, finish, strip_ddp_prefix, strip_prefix

    state = strip_ddp_prefix(state)
    wrapped, others = strip_prefix(state, "vision_encoder.visual.")
    if wrapped:
        kept, dropped = drop_prefixes(wrapped, (*MRM_PRETRAIN_ONLY, *CLASSIFIER))
        return finish(kept, vit, "mrm", dropped + others)
    return _mae_style(state, vit, "mrm", MRM_PRETRAIN_ONLY)


def adapt_mae(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """MAE ImageNet ViT-B/16 → timm: encoder keys as they are (decoder/mask token dropped if present)."""
    return _mae_style(state, vit, "mae", MAE_PRETRAIN_ONLY)


def adapt_mgca_vit(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """MGCA Lightning ``state_dict`` → timm: keep ``img_encoder_q.model.*`` (stripped), drop everything else."""
    from ecamp_bench.errors import CheckpointError
    from ecamp_bench.models.importers import drop_prefixes, finish, strip_ddp_prefix, strip_prefix, summarize_keys

    kept, others = strip_prefix(strip_ddp_prefix(state), MGCA_IMAGE_PREFIX)
    if not kept:
        raise CheckpointError(
            f"mgca-vit: no key starts with '{MGCA_IMAGE_PREFIX}' (found {summarize_keys(state) or 'no keys'}); "
            "is this MGCA's ViT-B/16 Lightning checkpoint?"
        )
    kept, head = drop_prefixes(kept, CLASSIFIER)
    return finish(kept, vit, "mgca-vit", others + head)


def adapt_benchx_vit(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """A BenchX ``medvlm2mmseg.convert_vit`` output (mmseg ViT names) → timm names."""
    from ecamp_bench.models.importers import drop_prefixes, finish, mmseg_vit_to_timm, strip_ddp_prefix

    kept, dropped = drop_prefixes(mmseg_vit_to_timm(strip_ddp_prefix(state)), CLASSIFIER)
    return finish(kept, vit, "benchx", dropped)


def _spec(name: str, weights: str, adapt: str, mean, std, pool: str, citation: str, description: str) -> BackboneSpec:
    return release_spec(ARCH, _ADAPT + adapt, name, weights, mean, std, citation, description, global_pool=pool)


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """ECAMP, MRM, MAE and MGCA release files, and BenchX's converted MGCA-ViT and MRM files."""
    return [
        _spec("ecamp-official", "ECAMP_ViT_Base_16.pth", "adapt_ecamp_official", ECAMP_MEAN, ECAMP_STD, "avg",
              "ECAMP, arXiv 2312.13316, Medical Image Analysis 2025 (ToniChopp/ECAMP)",
              "released ECAMP ViT-B/16 (key 'model'; decoder, SR head and BERT dropped)"),
        _spec("mrm", "MRM.pth", "adapt_mrm", MRM_MEAN, MRM_STD, "avg",
              "Zhou et al., MRM, ICLR 2023 (RL4M/MRM-pytorch)",
              "released MRM ViT-B/16 (key 'model'; decoder and BERT dropped)"),
        _spec("mae", "mae_pretrain_vit_base.pth", "adapt_mae", IMAGENET_MEAN, IMAGENET_STD, "avg",
              "He et al., MAE, CVPR 2022 (facebookresearch/mae)",
              "MAE ImageNet ViT-B/16 pre-training encoder (key 'model')"),
        _spec("mgca-vit", "MGCA-vit.ckpt", "adapt_mgca_vit", HALF, HALF, "token",
              "Wang et al., MGCA, NeurIPS 2022 (HKU-MedAI/MGCA)",
              "MGCA ViT-B/16 Lightning checkpoint (img_encoder_q.model.*; text encoder, prototypes, heads dropped)"),
        _spec("benchx:mgca-vit", "benchx/MGCA-vit.ckpt", "adapt_benchx_vit", HALF, HALF, "token",
              BENCHX, "BenchX medvlm2mmseg-converted MGCA ViT-B/16 (mmseg names)"),
        _spec("benchx:mrm", "benchx/MRM.pth", "adapt_benchx_vit", MRM_MEAN, MRM_STD, "avg",
              BENCHX, "BenchX medvlm2mmseg-converted MRM ViT-B/16 (mmseg names)"),
    ]
