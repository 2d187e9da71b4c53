"""The shared key toolkit of checkpoint adapters (to timm names), and the adapters of timm's own layouts.

A ``BackboneSpec.adapt_state_dict`` target is called by :func:`ecamp_bench.models.backbone.build_backbone` as
``fn(state_dict, model) -> state_dict`` after the file was read with ``torch.load(weights_only=True)`` and
unwrapped (``model`` / ``state_dict`` key). The result is then loaded **strictly**, so every key that is neither
mapped nor deliberately dropped surfaces as an "unexpected key" and every encoder key the file lacks as a
"missing key".

The adapter of a release's own key layout lives in the plugin module that registers that backbone, with the
layout in its docstring (``ecamp_bench_plugins.backbones.published``: ECAMP, MRM, MAE, MGCA and BenchX ViT-B/16
files; ``.resnet50``: the ResNet-50 releases; ``.rad_dino``). This module holds what they share:

1. select the image encoder (:func:`strip_prefix` of a wrapper prefix such as ``img_encoder_q.model.``,
   :func:`strip_ddp_prefix` of DDP's ``module.``) and drop the keys that only served pre-training
   (:func:`drop_prefixes`), listing them in **one** log line (:func:`log_dropped`, :func:`summarize_keys`);
2. rename foreign names to timm's (:func:`mmseg_vit_to_timm`: BenchX/mmseg ``layers.N.ffn.layers.0.0`` →
   ``blocks.N.mlp.fc1``);
3. convert the patch embedding between 1 and 3 input channels (:func:`adapt_patch_embed_channels`: sum, or
   repeat and divide by 3, so that a grayscale image replicated to 3 channels gives the same embedding);
4. resample ``pos_embed`` to the model's grid with timm's ``resample_abs_pos_embed`` when they differ
   (:func:`resample_pos_embed`); steps 1 (logging), 3 and 4 and :func:`check_final_norm` are :func:`finish`.

Two adapters serve any backbone: :func:`adapt_timm` (timm- or torchvision-named files: ``timm:ARCH --weights``,
the ImageNet backbones) and :func:`adapt_timm_converted` (the layouts timm's own ``checkpoint_filter_fn``
converts: OpenAI CLIP, open_clip, DINOv2; CheXzero and BiomedCLIP).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping

import torch
from torch import nn

import ecamp_bench  # noqa: F401  (installs the torchvision hook before timm is imported)
from ecamp_bench.errors import CheckpointError

log = logging.getLogger(__name__)

State = dict[str, torch.Tensor]

# BenchX `medvlm2mmseg.convert_vit` renames (timm → mmseg); we apply them in reverse (mmseg → timm).
_MMSEG_TO_TIMM: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"^patch_embed\.projection\.", "patch_embed.proj."),
        (r"^layers\.(\d+)\.ln1\.", r"blocks.\1.norm1."),
        (r"^layers\.(\d+)\.ln2\.", r"blocks.\1.norm2."),
        (r"^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$", r"blocks.\1.attn.qkv.\2"),
        (r"^layers\.(\d+)\.attn\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
        (r"^layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
        (r"^layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
        (r"^ln1\.", "norm."),
    )
)


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> tuple[State, list[str]]:
    """``(keys under prefix with it removed, every other key)``."""
    kept = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    others = [k for k in state if not k.startswith(prefix)]
    return kept, others


def strip_ddp_prefix(state: Mapping[str, torch.Tensor]) -> State:
    """Remove DDP's ``module.`` when *every* key carries it (a checkpoint saved from the wrapped model)."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def drop_prefixes(state: Mapping[str, torch.Tensor], prefixes: Iterable[str]) -> tuple[State, list[str]]:
    """``(state without the keys starting with any of prefixes, the dropped keys)``."""
    prefixes = tuple(prefixes)
    kept = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    return kept, [k for k in state if k.startswith(prefixes)]


def summarize_keys(keys: Iterable[str]) -> str:
    """``"bert_encoder.* (52), decoder_blocks.* (48), mask_token"``: keys grouped by their first component."""
    groups = Counter(k.split(".")[0] + (".*" if "." in k else "") for k in keys)
    return ", ".join(f"{name} ({n})" if n > 1 else name for name, n in sorted(groups.items()))


def log_dropped(source: str, dropped: list[str]) -> None:
    """One INFO line listing (grouped) the keys an importer discarded."""
    if dropped:
        log.info("%s: dropped %d non-encoder keys: %s", source, len(dropped), summarize_keys(dropped))


def mmseg_vit_to_timm(state: Mapping[str, torch.Tensor]) -> State:
    """Rename an MMSegmentation ``VisionTransformer`` state dict (BenchX-converted) to timm ViT names.

    ``nn.MultiheadAttention.in_proj_weight`` stacks q, k, v along dim 0 exactly like timm's ``qkv``
    (``[3·D, D]``), so the tensors are kept as they are; only names change. Unknown names pass through.
    """
    renamed: State = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _MMSEG_TO_TIMM:
            new, n = pattern.subn(repl, key)
            if n:
                break
        renamed[new] = value
    return renamed


def adapt_patch_embed_channels(state: State, vit: nn.Module) -> State:
    """Convert ``patch_embed.proj.weight`` between 1 and 3 input channels to match ``vit``.

    3 → 1: sum over the channels; 1 → 3: repeat and divide by 3. Either way a grayscale image (replicated
    to 3 channels for the 3-channel model) gives the same patch embedding. Other counts are left for the
    strict loader to report as a wrong shape.
    """
    key = "patch_embed.proj.weight"
    target = vit.state_dict().get(key)
    weight = state.get(key)
    if target is None or weight is None or weight.ndim != 4 or weight.shape[1] == target.shape[1]:
        return state
    have, want = int(weight.shape[1]), int(target.shape[1])
    if have == 3 and want == 1:
        state[key] = weight.sum(dim=1, keepdim=True)  # [D, 1, p, p]
    elif have == 1 and want == 3:
        state[key] = weight.repeat(1, 3, 1, 1) / 3.0  # [D, 3, p, p]
    return state


def resample_pos_embed(state: State, vit: nn.Module) -> State:
    """Resample ``pos_embed`` to ``vit``'s patch grid (bicubic, prefix tokens kept) when the grids differ."""
    from timm.layers import resample_abs_pos_embed

    target = vit.state_dict().get("pos_embed")
    pos = state.get("pos_embed")
    if target is None or pos is None or pos.shape == target.shape or pos.ndim != 3 or pos.shape[-1] != target.shape[-1]:
        return state
    prefix = 0 if getattr(vit, "no_embed_class", False) else int(getattr(vit, "num_prefix_tokens", 1))
    state["pos_embed"] = resample_abs_pos_embed(pos, new_size=list(vit.patch_embed.grid_size), num_prefix_tokens=prefix)
    return state


def check_final_norm(state: State, vit: nn.Module, source: str) -> None:
    """Explain the one layout mismatch a user can fix with a flag: ``fc_norm.*`` (fine-tuned) vs ``norm.*``.

    MAE-style fine-tuning with global average pooling replaces the encoder's final ``norm`` by an
    ``fc_norm`` applied after pooling. Pre-training checkpoints (the released files) carry ``norm.*``; a
    fine-tuned one carries ``fc_norm.*`` and needs a model built with ``fc_norm=True``.
    """
    model_keys = vit.state_dict()
    if any(k.startswith("fc_norm.") for k in state) and "fc_norm.weight" not in model_keys:
        raise CheckpointError(
            f"{source}: the file has 'fc_norm.*' (a fine-tuned checkpoint with global pooling) but the model "
            "expects 'norm.*'; rebuild with --set backbone.model_kwargs.fc_norm=true"
        )


def finish(state: State, vit: nn.Module, source: str, dropped: list[str]) -> State:
    """Steps shared by every importer: log what was dropped, channels, ``pos_embed``, final-norm check."""
    log_dropped(source, dropped)
    state = adapt_patch_embed_channels(state, vit)
    state = resample_pos_embed(state, vit)
    check_final_norm(state, vit, source)
    return state


def adapt_timm(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """A plain timm (or torchvision, same names) checkpoint of any architecture → the backbone's timm model.

    Drops the classifier the model was built without (timm's ``pretrained_cfg["classifier"]``: ``head`` for a
    ViT, ``fc`` for a ResNet; ``head.*`` and ``fc.*`` otherwise) and, for ViTs, resamples ``pos_embed`` to the
    model's grid and converts a 1-channel patch embedding.
    """
    state = strip_ddp_prefix(state_dict)
    classifier = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ("head", "fc")
    names = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    model_keys = model.state_dict()
    heads = tuple(f"{n}." for n in names if not any(k.startswith(f"{n}.") for k in model_keys))
    kept, dropped = drop_prefixes(state, heads)
    return finish(kept, model, "timm", dropped)


def adapt_timm_converted(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> State:
    """A checkpoint in a layout timm converts itself (its ``checkpoint_filter_fn``: OpenAI CLIP's ``visual.*``,
    open_clip's ``visual.trunk.*``, the original DINOv2 release, ...) → the backbone's timm model, then as
    :func:`adapt_timm` (classifier dropped, ``pos_embed`` resampled). A ``model.`` prefix is stripped first."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = {k.removeprefix("model."): v for k, v in state_dict.items()}
    return adapt_timm(checkpoint_filter_fn(state, model), model)
