"""RAD-DINO (Pérez-García et al., "Exploring scalable medical image encoders beyond text supervision", Nature
Machine Intelligence 2025): a DINOv2 ViT-B/14 trained on chest X-rays, released on the Hugging Face hub as
``microsoft/rad-dino`` (a ``transformers`` ``Dinov2Model``).

**File**: ``rad-dino.safetensors`` = the release's ``model.safetensors`` saved under this name (or any file passed
with ``--weights``). **Key layout** (Hugging Face ``Dinov2Model``; a ``dinov2.`` prefix, as in
``Dinov2ForImageClassification``, is stripped)::

    embeddings.cls_token [1, 1, 768]            -> cls_token
    embeddings.mask_token [1, 768]              -> dropped (used only in DINO training)
    embeddings.position_embeddings [1, 1370, 768] -> pos_embed (37 × 37 patches + CLS at 518 px)
    embeddings.patch_embeddings.projection.*    -> patch_embed.proj.*
    encoder.layer.N.norm1.* / norm2.*           -> blocks.N.norm1.* / norm2.*
    encoder.layer.N.attention.attention.{query,key,value}.{weight,bias}
      (transformers >= 5 writes attention.{q,k,v}_proj.*)
                                                -> blocks.N.attn.qkv.{weight,bias} (concatenated q, k, v)
    encoder.layer.N.attention.output.dense.*    -> blocks.N.attn.proj.*
      (transformers >= 5: attention.o_proj.*)
    encoder.layer.N.layer_scale{1,2}.lambda1    -> blocks.N.ls{1,2}.gamma
    encoder.layer.N.mlp.fc{1,2}.*               -> blocks.N.mlp.fc{1,2}.*
    layernorm.*                                 -> norm.*

into timm's ``vit_base_patch14_dinov2`` (518 px, LayerScale). The global feature is the CLS token after the final
norm, which is ``Dinov2Model``'s ``pooler_output``. Normalisation: mean 0.5307, std 0.2583 on all three channels,
as the release's ``preprocessor_config.json`` gives them (resize and centre-crop to 518 px).
"""

from __future__ import annotations

import re

from ecamp_bench.api import BackboneSpec, hookimpl

_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_QKV = {"attention.attention.query.": "q", "attention.attention.key.": "k", "attention.attention.value.": "v",
        "attention.q_proj.": "q", "attention.k_proj.": "k", "attention.v_proj.": "v"}
_RENAME = {"attention.output.dense.": "attn.proj.", "attention.o_proj.": "attn.proj.",
           "layer_scale1.lambda1": "ls1.gamma", "layer_scale2.lambda1": "ls2.gamma",
           "norm1.": "norm1.", "norm2.": "norm2.", "mlp.": "mlp."}
_TOP = {"embeddings.cls_token": "cls_token", "embeddings.position_embeddings": "pos_embed",
        "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
        "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
        "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}


def adapt(state_dict, model):
    """A Hugging Face ``Dinov2Model`` state dict → timm ViT names (table in the module docstring)."""
    import torch

    from ecamp_bench.models.importers import finish

    state = {k.removeprefix("dinov2."): v for k, v in state_dict.items()}
    out, dropped, qkv = {}, [], {}
    for key, value in state.items():
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        match = _LAYER.match(key)
        rest = match.group(2) if match else ""
        part = next((p for prefix, p in _QKV.items() if match and rest.startswith(prefix)), None)
        if part is not None:
            kind = rest.rsplit(".", 1)[1]  # weight | bias
            qkv.setdefault((int(match.group(1)), kind), {})[part] = value
            continue
        new = next((rest.replace(a, b, 1) for a, b in _RENAME.items() if match and rest.startswith(a)), None)
        if new is None:
            dropped.append(key)
            continue
        out[f"blocks.{match.group(1)}.{new}"] = value
    for (layer, kind), parts in qkv.items():
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return finish(out, model, "rad-dino", dropped)


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """RAD-DINO (ViT-B/14, 518 px)."""
    return [BackboneSpec(
        name="rad-dino", arch="vit_base_patch14_dinov2", family="vit", weights="rad-dino.safetensors",
        adapt_state_dict="ecamp_bench_plugins.backbones.rad_dino:adapt", input_size=518, global_pool="token",
        mean=(0.5307, 0.5307, 0.5307), std=(0.2583, 0.2583, 0.2583),
        citation="Pérez-García et al., RAD-DINO, Nature Machine Intelligence 2025 (microsoft/rad-dino)",
        description="RAD-DINO: DINOv2 ViT-B/14 on chest X-rays (Hugging Face Dinov2Model keys)",
    )]
