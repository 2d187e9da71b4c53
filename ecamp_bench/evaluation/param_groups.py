"""Optimiser parameter groups for fine-tuning: layer-wise lr decay and the weight-decay exemptions of MAE/BEiT.

:func:`layer_decay_param_groups` hands the timm encoder to timm's ``param_groups_layer_decay``, which
- orders the parameters by depth through the model's own ``group_matcher(coarse=False)`` (ViT: embeddings, each
  block, final norm; ResNet and other timm CNNs: stem, each residual block, ...; a model without a matcher, such
  as a ``features_only`` wrapper, is one layer);
- exempts from weight decay every 1-D tensor (biases, norm weights) **and** the names the model lists in
  ``no_weight_decay()`` (ViT: ``pos_embed``, ``cls_token``, ``dist_token``, ``reg_token``), as MAE and BEiT do.

The parameters outside the encoder (classification head, the backbone's pyramid resamplers, MMSeg decode heads)
are the top layer: full lr, same 1-D exemption. Encoder layer ``i`` of ``L`` gets ``lr * layer_decay ** (L - i)``,
which are MAE's and BEiT's scales (ViT of depth ``D``: embeddings ``decay ** (D + 1)``, block ``k``
``decay ** (D - k)``); only the final norm differs (timm's matcher puts it with the last block: ``decay``, not 1).
Each group carries ``lr`` (already scaled), ``base_lr`` (the same value, for schedulers that multiply it) and
``weight_decay``.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def encoder_of(backbone: nn.Module) -> nn.Module:
    """The timm model inside an ecamp-bench ``Backbone`` (its ``encoder``: a ViT or a CNN)."""
    return backbone.encoder


def layer_decay_param_groups(encoder: nn.Module, others: Iterable[nn.Parameter], *, lr: float, weight_decay: float,
                             layer_decay: float) -> list[dict]:
    """Parameter groups for AdamW/SGD: the encoder's by timm (rules in the module docstring), then ``others``.

    ``others`` are parameters outside ``encoder`` trained at ``lr``; frozen parameters (``requires_grad``
    false) are left out. Raises ``ValueError`` when a parameter of ``others`` belongs to ``encoder``.
    """
    from timm.optim import param_groups_layer_decay

    no_decay_names = set(encoder.no_weight_decay()) if hasattr(encoder, "no_weight_decay") else set()
    groups = []
    for group in param_groups_layer_decay(encoder, weight_decay=weight_decay, no_weight_decay_list=no_decay_names,
                                          layer_decay=layer_decay):
        # timm's top encoder layer has scale 1; the head sits above
        scaled = lr * float(group["lr_scale"]) * layer_decay
        groups.append({"params": list(group["params"]), "lr": scaled, "base_lr": scaled,
                       "weight_decay": float(group["weight_decay"])})
    inside = {id(p) for p in encoder.parameters()}
    rest = [p for p in others if p.requires_grad]
    if any(id(p) in inside for p in rest):
        raise ValueError("a parameter passed as outside the encoder belongs to it")
    for decay, params in ((weight_decay, [p for p in rest if p.ndim > 1]), (0.0, [p for p in rest if p.ndim <= 1])):
        if params:
            groups.append({"params": params, "lr": lr, "base_lr": lr, "weight_decay": decay})
    return [g for g in groups if g["params"]]


def backbone_param_groups(backbone: nn.Module, head_params: Iterable[nn.Parameter], *, lr: float,
                          weight_decay: float, layer_decay: float) -> list[dict]:
    """:func:`layer_decay_param_groups` for an ecamp-bench ``Backbone`` (its pyramid counts as outside the
    encoder) plus ``head_params``."""
    encoder = encoder_of(backbone)
    inside = {id(p) for p in encoder.parameters()}
    outside = [p for p in backbone.parameters() if id(p) not in inside]
    return layer_decay_param_groups(encoder, [*outside, *head_params], lr=lr, weight_decay=weight_decay,
                                    layer_decay=layer_decay)
