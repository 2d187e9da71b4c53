"""Our :class:`~ecamp_bench.models.backbone.Backbone` as an OpenMMLab backbone, registered as ``EcampBenchBackbone``.

Registered once in mmengine's root ``MODELS`` registry, so mmseg's and mmdet's child registries find it
by name (also inside a Runner's ``default_scope``), see ``docs/openmmlab.md``. Importing this module imports
mmengine, not mmdet/mmseg. Built from plain data, e.g. in a config::

    backbone=dict(type="EcampBenchBackbone", spec=spec_to_dict(backbone_spec), weights="w.safetensors",
                  frozen=True, out_indices=(0, 1, 2, 3))

**Input contract:** the wrapper normalises itself. It expects ``[B, 3, H, W]`` images in ``[0, 1]`` (so
the mm data preprocessor uses mean 0 / std 1 on float ``[0, 1]`` inputs) and applies the backbone's
mean/std (from its spec). Output: the tuple of multi-scale maps at strides ``(4, 8, 16, 32)[i]`` for ``i``
in ``out_indices``, each ``[B, C_i, H/s, W/s]``; ``out_channels`` lists their channel counts, which the MM
configs take from the backbone (:func:`~ecamp_bench.models.backbone.describe_backbone`): ``[D] * 4`` for a
ViT, the stage widths for a CNN (ResNet-50: 256, 512, 1024, 2048).

``frozen=True`` freezes the encoder (``requires_grad=False`` and kept in eval mode by :meth:`train`, so a
ResNet's BatchNorm statistics stay those of the checkpoint); a ViT's simple-pyramid resampling layers stay
trainable (they are freshly initialised and belong to the decoder side, as the module docstring of
``ecamp_bench.models.backbone`` says). A CNN whose stages sit at the four strides has no such layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from mmengine.registry import MODELS
from torch import nn

from ecamp_bench.errors import ConfigError
from ecamp_bench.models.backbone import STRIDES, Backbone, build_backbone, with_taps
from ecamp_bench.specs import BackboneSpec, backbone_from_data, backbone_to_data

REGISTERED_NAME = "EcampBenchBackbone"


def spec_from_dict(data: Mapping[str, Any] | BackboneSpec) -> BackboneSpec:
    """A :class:`BackboneSpec` from its plain-data form (the spec codec,
    :func:`ecamp_bench.specs.backbone_from_data`)."""
    try:
        return backbone_from_data(data)
    except ConfigError as exc:
        raise ConfigError(f"EcampBenchBackbone: {exc}") from None


def spec_to_dict(spec: BackboneSpec) -> dict[str, Any]:
    """The plain-data form of ``spec`` accepted by :class:`EcampBenchBackbone` (mmengine configs hold plain data)."""
    return backbone_to_data(spec)


class EcampBenchBackbone(nn.Module):
    """An mm backbone around :class:`Backbone` (see the module docstring), for a ViT or a CNN.

    Args:
        spec: a :class:`BackboneSpec` as a dict (or the spec itself).
        weights: a backbone weight file loaded through :func:`build_backbone` (strict, with the key report),
            or ``None`` for a random init.
        frozen: freeze the encoder (no gradient, eval mode, BatchNorm statistics kept) and train only what
            follows it.
        out_indices: which of the four maps (strides 4, 8, 16, 32) to return.
        strict: strict state-dict loading (mismatches raise ``CheckpointError`` naming the keys).
        feature_indices: override of the tapped ``feature_info`` entries (0-based; negative counts from the end,
            e.g. ``(-1, -1, -1, -1)`` gives every map from a ViT's last block).
        img_size: the input size the model will see; a ViT built for another ``spec.input_size`` interpolates
            its position embedding per forward (timm ``dynamic_img_size``), so the weight file still loads
            strictly. CNNs take any size.
    """

    def __init__(
        self,
        spec: Mapping[str, Any] | BackboneSpec,
        weights: str | None = None,
        frozen: bool = True,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        strict: bool = True,
        feature_indices: Sequence[int] | None = None,
        img_size: int | None = None,
    ):
        super().__init__()
        backbone_spec = with_taps(spec_from_dict(spec), feature_indices)
        self.out_indices = tuple(int(i) for i in out_indices)
        if not self.out_indices or any(not 0 <= i < len(STRIDES) for i in self.out_indices):
            raise ConfigError(f"EcampBenchBackbone: out_indices {self.out_indices} must be within "
                              f"0..{len(STRIDES) - 1}")
        self.backbone: Backbone = build_backbone(
            backbone_spec, Path(weights) if weights else None, strict=strict, img_size=img_size
        )
        self.frozen = bool(frozen)
        self.out_channels = [self.backbone.out_channels[i] for i in self.out_indices]
        self.strides = [STRIDES[i] for i in self.out_indices]
        if self.frozen:
            self.backbone.encoder.requires_grad_(False)
            self.backbone.encoder.eval()

    def init_weights(self) -> None:
        """Keep the loaded weights (mmengine calls this on every sub-module that has it)."""

    def train(self, mode: bool = True) -> EcampBenchBackbone:
        """Set train/eval mode; a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.backbone.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``[B, 3, H, W]`` in ``[0, 1]`` → the selected maps, ``[B, out_channels[i], H/s, W/s]`` each."""
        x = self.backbone.normalize(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            maps = self.backbone.tap_maps(x, self.out_indices)
        return tuple(self.backbone.resample(self.out_indices, maps))


def register() -> type[EcampBenchBackbone]:
    """Register :class:`EcampBenchBackbone` in mmengine's root ``MODELS`` (idempotent) and return it."""
    MODELS.register_module(name=REGISTERED_NAME, module=EcampBenchBackbone, force=True)
    return EcampBenchBackbone


register()

__all__ = ["REGISTERED_NAME", "EcampBenchBackbone", "register", "spec_from_dict", "spec_to_dict"]
