"""CheXzero's image tower (Tiu et al., "Expert-level detection of pathologies from unannotated chest X-ray images
via self-supervised learning", Nature Biomedical Engineering 2022): OpenAI's CLIP ViT-B/32 fine-tuned on
MIMIC-CXR image-report pairs.

**File**: ``chexzero.pt`` = one of the release's ``best_*.pt`` checkpoints (a ``torch.save`` of the whole CLIP
model's ``state_dict``), or any file passed with ``--weights``. **Key layout** (OpenAI ``clip`` package)::

    visual.class_embedding [768]                -> cls_token
    visual.positional_embedding [50, 768]       -> pos_embed (7 × 7 patches + CLS at 224 px)
    visual.conv1.weight                         -> patch_embed.proj.weight (no bias)
    visual.ln_pre.*                             -> norm_pre.*
    visual.transformer.resblocks.N.ln_1/ln_2.*  -> blocks.N.norm1/norm2.*
    visual.transformer.resblocks.N.attn.in_proj_{weight,bias} -> blocks.N.attn.qkv.*
    visual.transformer.resblocks.N.attn.out_proj.*            -> blocks.N.attn.proj.*
    visual.transformer.resblocks.N.mlp.c_fc/c_proj.*          -> blocks.N.mlp.fc1/fc2.*
    visual.ln_post.*                            -> norm.*
    visual.proj [768, 512]                      -> dropped (projection into the joint space)
    everything else (text transformer, token_embedding, logit_scale, ...) -> dropped

The conversion is timm's own ``checkpoint_filter_fn`` (through
``ecamp_bench.models.importers.adapt_timm_converted``, OpenAI CLIP layout) into timm's
``vit_base_patch32_clip_quickgelu_224`` (pre-norm, QuickGELU as OpenAI's CLIP). The global feature is
``ln_post`` of the CLS token, the image embedding before ``proj``. Normalisation: CheXzero's own, mean 101.48761
and std 83.43944 on the 0–255 scale (0.39799 and 0.32721 here), on all three channels; 224 px.
"""

from __future__ import annotations

from ecamp_bench.api import BackboneSpec, hookimpl


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """CheXzero's ViT-B/32 image tower."""
    return [BackboneSpec(
        name="chexzero", arch="vit_base_patch32_clip_quickgelu_224", family="vit", weights="chexzero.pt",
        adapt_state_dict="ecamp_bench.models.importers:adapt_timm_converted", input_size=224, global_pool="token",
        mean=(101.48761 / 255,) * 3, std=(83.43944 / 255,) * 3,
        citation="Tiu et al., CheXzero, Nature Biomedical Engineering 2022",
        description="CheXzero image tower: CLIP ViT-B/32 (OpenAI CLIP keys)",
    )]
