"""Key mapping for released ViT checkpoints of other methods (to timm ViT names), shared importer steps, and timm files.

Each ``adapt_*`` function is a ``BackboneSpec.adapt_state_dict`` target, called by
:func:`ecamp_bench.models.backbone.build_backbone` as ``fn(state_dict, vit) -> state_dict`` after the file
was read with ``torch.load(weights_only=True)`` and unwrapped (``model`` / ``state_dict`` key). The
result is then loaded **strictly**, so every key that is neither mapped nor deliberately dropped
surfaces as an "unexpected key" and every encoder key the file lacks as a "missing key".

The expected layout of each file is written down in ``ecamp_bench_plugins.backbones.published`` (ResNet-50
releases: :mod:`ecamp_bench.models.resnet_importers`). The steps shared by the ViT importers:

1. select the image encoder (strip a wrapper prefix such as ``img_encoder_q.model.`` or DDP's ``module.``)
   and drop the keys that only served pre-training (decoder, mask token, SR head, text encoder, heads),
   listing them in **one** log line;
2. rename foreign names to timm's (BenchX/mmseg ``layers.N.ffn.layers.0.0`` → ``blocks.N.mlp.fc1``);
3. convert the patch embedding between 1 and 3 input channels (sum, or repeat and divide by 3, so that a
   grayscale image replicated to 3 channels gives the same embedding);
4. resample ``pos_embed`` to the model's grid with timm's ``resample_abs_pos_embed`` when they differ.
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

#: Keys of a MAE-style pre-training model that are not part of the ViT encoder.
MAE_PRETRAIN_ONLY = ("decoder_", "mask_token")
#: ECAMP's pre-training extras: MAE decoder, super-resolution head, multimodal BERT and its input projection.
ECAMP_PRETRAIN_ONLY = (*MAE_PRETRAIN_ONLY, "super_res.", "bert_encoder.", "bert_mlp.")
#: MRM's pre-training extras: MAE decoder, BERT report decoder and its input projection.
MRM_PRETRAIN_ONLY = (*MAE_PRETRAIN_ONLY, "bert_encoder.", "bert_mlp.")
#: A classifier left in a fine-tuned checkpoint is never part of the backbone.
CLASSIFIER = ("head.",)
MGCA_IMAGE_PREFIX = "img_encoder_q.model."

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


def _mae_style(state: Mapping[str, torch.Tensor], vit: nn.Module, source: str, extras: tuple[str, ...]) -> State:
    state = strip_ddp_prefix(state)
    kept, dropped = drop_prefixes(state, (*extras, *CLASSIFIER))
    return finish(kept, vit, source, dropped)


def adapt_ecamp_official(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """``ECAMP_ViT_Base_16.pth`` → timm: drop decoder, mask token, SR head and BERT; names are already timm's."""
    return _mae_style(state, vit, "ecamp-official", ECAMP_PRETRAIN_ONLY)


def adapt_mrm(state: Mapping[str, torch.Tensor], vit: nn.Module) -> State:
    """``MRM.pth`` → timm: drop decoder, mask token and BERT (also accepts BenchX's ``vision_encoder.visual.``)."""
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
    state = mmseg_vit_to_timm(strip_ddp_prefix(state))
    kept, dropped = drop_prefixes(state, CLASSIFIER)
    return finish(kept, vit, "benchx", dropped)


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
