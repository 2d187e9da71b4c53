"""BiomedCLIP's image tower (Zhang et al., "BiomedCLIP: a multimodal biomedical foundation model pretrained from
fifteen million scientific image-text pairs", NEJM AI 2025), released as an open_clip model on the Hugging Face hub
(``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``).

**File**: ``biomedclip.bin`` = the release's ``open_clip_pytorch_model.bin`` saved under this name (or any file
passed with ``--weights``). **Key layout** (open_clip with a timm vision tower, ``TimmModel``)::

    visual.trunk.*        timm vit_base_patch16_224 names (cls_token, pos_embed, patch_embed.proj.*,
                          blocks.N.*, norm.*)                          -> kept, the prefix removed
    visual.head.proj.*    the 768 → 512 image projection into the joint space -> dropped
    text.*, logit_scale   the PubMedBERT text tower                    -> dropped

The conversion is timm's own ``checkpoint_filter_fn`` (through
``ecamp_bench.models.importers.adapt_timm_converted``) (it recognises open_clip's ``visual.trunk.`` layout). The
global feature is the trunk's output before the projection: the CLS token after the final norm (``TimmModel``
with ``pool=""`` keeps timm's default token pooling). Normalisation: OpenAI CLIP's mean/std, which the release's
``open_clip_config.json`` names; 224 px.
"""

from __future__ import annotations

from ecamp_bench.api import BackboneSpec, hookimpl


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """BiomedCLIP's ViT-B/16 image tower."""
    return [BackboneSpec(
        name="biomedclip", arch="vit_base_patch16_224", family="vit", weights="biomedclip.bin",
        adapt_state_dict="ecamp_bench.models.importers:adapt_timm_converted", input_size=224, global_pool="token",
        mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711),
        citation="Zhang et al., BiomedCLIP, NEJM AI 2025 (microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224)",
        description="BiomedCLIP image tower: ViT-B/16 (open_clip keys)",
    )]
