"""An ImageNet Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows", ICCV 2021), the hierarchical-transformer baseline of recent chest X-ray comparisons.

**File**: ``swin_tiny_patch4_window7_224.ms_in1k.safetensors`` = timm's ``model.safetensors`` of
``timm/swin_tiny_patch4_window7_224.ms_in1k`` saved under this name (or any file passed with ``--weights``).
**Key layout** (timm): ``patch_embed.proj.*``, ``patch_embed.norm.*``, ``layers.S.blocks.B.{norm1, attn.qkv,
attn.proj, attn.relative_position_bias_table, norm2, mlp.fc1, mlp.fc2}.*``, ``layers.S.downsample.{norm,
reduction}.*`` (S = 1..3), ``norm.*``; the classifier ``head.fc.*`` is dropped (timm adapter). Relative-position
index buffers are not in the file (timm rebuilds them).

``family="swin"``: built for its input size (``img_size``), tapped at its four stages (strides 4, 8, 16, 32;
96/192/384/768 channels), average pooling. ImageNet mean/std, 224 px.
"""

from __future__ import annotations

from ecamp_bench.api import BackboneSpec, hookimpl


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """Swin-T (ImageNet-1k)."""
    return [BackboneSpec(
        name="imagenet-swin-t", arch="swin_tiny_patch4_window7_224", family="swin",
        weights="swin_tiny_patch4_window7_224.ms_in1k.safetensors",
        adapt_state_dict="ecamp_bench.models.importers:adapt_timm", input_size=224, global_pool="avg",
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        citation="Liu et al., Swin Transformer, ICCV 2021 (timm swin_tiny_patch4_window7_224.ms_in1k)",
        description="ImageNet-1k Swin-T (timm keys)",
    )]
