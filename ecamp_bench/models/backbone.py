"""One image-encoder interface for every task and every timm family: a global feature and multi-scale maps.

:class:`Backbone` wraps ``timm.create_model(spec.arch, num_classes=0, ...)`` (any timm architecture):

- ``forward_global(x) -> [B, D]``: timm's pooled pre-logits (``num_features`` wide). ViTs pool per the spec
  (CLS token, ``"token"``, or the mean of the patch tokens, ``"avg"``, MRM/MAE style); CNNs average-pool
  their last stage (``"avg"``).
- ``forward_multiscale(x) -> [P4, P8, P16, P32]``: four maps at strides 4, 8, 16 and 32, ``out_channels[i]``
  channels each. Every map is one **tap** of the model's timm ``feature_info`` (``(channels, reduction)`` per
  tappable module), read with timm's ``forward_intermediates`` and resampled from its reduction to the target
  stride when they differ:

  * ``vit`` family (a token model: patch embedding + blocks, every block at the patch stride): 4 evenly
    spaced blocks (ViT-B: blocks 4, 6, 8, 12 counted from 1, MRM's ``{3, 5, 7, 11}``), resampled ViTDet/BEiT
    style: two 2×2 transposed convolutions (BatchNorm + GELU between), one transposed convolution,
    identity, and 2×2 max-pooling (for patch 16). These layers are freshly initialised; the dense protocols
    train them with their decoder.
  * ``cnn`` family (a pyramid: ResNet, ConvNeXt, ...): the stage whose reduction equals each stride (ResNet-50:
    ``layer1``-``layer4`` = C2-C5, 256/512/1024/2048 channels), no resampling. A stride the network lacks is
    resampled from the nearest stage (a network truncated with timm's ``features_only=True`` and
    ``out_indices`` in ``model_kwargs``, e.g. MedKLIP's ResNet-50 that ends at ``layer3``, gets its stride-32
    map by 2×2 max-pooling ``layer3``, and its global feature is the average of its deepest map).

``x`` is a normalised ``[B, 3, H, W]`` batch; :meth:`Backbone.normalize` turns a ``[0, 1]`` batch into one
with the mean/std the weights were trained with (carried by the backbone, from its spec). Input size: ViTs
are built for ``spec.input_size`` (``build_backbone(img_size=...)`` lets them interpolate their position
embedding to another size); CNNs take any size that is a multiple of 32.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torch import nn

import ecamp_bench  # noqa: F401  (installs the torchvision hook before timm is imported)
from ecamp_bench.errors import CheckpointError, PluginError
from ecamp_bench.models.checkpoints import load_state_dict_file, load_strict
from ecamp_bench.specs import BACKBONE_FAMILIES, BackboneSpec

STRIDES = (4, 8, 16, 32)
Family = Literal["vit", "cnn"]
#: Keyword arguments only timm's token models (ViT and relatives) accept; never passed to a CNN.
VIT_ONLY_KWARGS = ("img_size", "fc_norm", "dynamic_img_size")


def feature_block_indices(depth: int, n: int = 4) -> tuple[int, ...]:
    """0-based indices of the ``n`` blocks tapped for multi-scale maps, ending with the last block.

    Depth 12 (ViT-B/S/Ti) uses the BEiT/MRM convention ``(3, 5, 7, 11)`` (1-based blocks 4, 6, 8, 12);
    other depths take ``ceil(depth * k / n) - 1`` for ``k = 1..n`` (depth 4 → ``(0, 1, 2, 3)``), repeating
    the last block when the model has fewer than ``n`` blocks.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if depth == 12 and n == 4:
        return (3, 5, 7, 11)
    picks = sorted({max(0, math.ceil(depth * k / n) - 1) for k in range(1, n + 1)})
    while len(picks) < n:
        picks.append(picks[-1])
    return tuple(picks)


def stage_indices(reductions: Sequence[int], strides: Sequence[int] = STRIDES) -> tuple[int, ...]:
    """For each stride, the ``feature_info`` index of a pyramid's stage at that stride (the deepest one when
    several share it), else the stage with the nearest reduction (deepest first on ties).

    ResNet-50 (reductions 2, 4, 8, 16, 32) → ``(1, 2, 3, 4)``; a ResNet cut after ``layer3`` (4, 8, 16) →
    ``(0, 1, 2, 2)``.
    """
    if not reductions:
        raise ValueError("the model reports no feature_info")
    picks = []
    for stride in strides:
        distance = [abs(math.log2(r / stride)) for r in reductions]
        best = min(distance)
        picks.append(max(i for i, d in enumerate(distance) if d == best))
    return tuple(picks)


def _resampler(channels: int, reduction: int, stride: int) -> nn.Module:
    """Map a stride-``reduction`` map to stride ``stride`` (ViTDet/BEiT simple pyramid; identity when equal).

    Power-of-two ratios: 2×2 transposed convolutions up, max-pooling down. Other ratios (a patch-14 ViT such as
    DINOv2's: 14 → 4, 8, 16, 32) are resampled bilinearly by ``reduction / stride`` (no parameters)."""
    if stride == reduction:
        return nn.Identity()
    ratio = max(stride, reduction) // min(stride, reduction)
    if ratio * min(stride, reduction) != max(stride, reduction) or ratio & (ratio - 1):
        return nn.Upsample(scale_factor=reduction / stride, mode="bilinear", align_corners=False)
    if stride > reduction:
        return nn.MaxPool2d(kernel_size=ratio, stride=ratio)
    layers: list[nn.Module] = []
    for step in range(int(math.log2(ratio))):
        if step:
            layers += [nn.BatchNorm2d(channels), nn.GELU()]
        layers.append(nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def feature_info(model: nn.Module) -> list[tuple[int, int]]:
    """``(channels, reduction)`` of every tappable module of a timm model (``features_only`` models included)."""
    info = getattr(model, "feature_info", None)
    if info is None:
        raise CheckpointError(f"timm model {type(model).__name__} has no feature_info: cannot tap multi-scale maps")
    if hasattr(info, "channels"):  # FeatureInfo of a features_only model
        return list(zip(info.channels(), info.reduction()))
    return [(int(d["num_chs"]), int(d["reduction"])) for d in info]


def is_features_only(model: nn.Module) -> bool:
    """Whether ``model`` is a timm ``features_only`` wrapper (its forward returns the maps, not a pooled feature)."""
    return hasattr(getattr(model, "feature_info", None), "channels")


def _is_token_model(model: nn.Module) -> bool:
    return hasattr(model, "patch_embed") and hasattr(model, "blocks")


class Backbone(nn.Module):
    """A timm model plus the normalisation it expects and a four-level feature pyramid (see the module docstring).

    Attributes: ``spec`` (the :class:`BackboneSpec`), ``encoder`` (the timm model), ``family`` (``"vit"`` or
    ``"cnn"``), ``num_features`` (width of the global feature), ``input_size``, ``feature_indices``
    (``feature_info`` index tapped for each stride), ``out_channels`` (channels per stride), ``strides``
    ``(4, 8, 16, 32)``, ``pyramid`` (one resampler per stride) and ``mean``/``std`` buffers ``[1, 3, 1, 1]``.
    """

    def __init__(self, spec: BackboneSpec, encoder: nn.Module):
        super().__init__()
        self.spec = spec
        self.encoder = encoder
        self.family: Family = "vit" if _is_token_model(encoder) else "cnn"
        self.features_only = is_features_only(encoder)
        info = feature_info(encoder)
        self.input_size = int(spec.input_size)
        if spec.feature_indices:
            taps = tuple(int(i) for i in spec.feature_indices)
        elif self.family == "vit":
            taps = feature_block_indices(len(info))
        else:
            taps = stage_indices([r for _, r in info])
        if len(taps) != len(STRIDES) or any(not -len(info) <= i < len(info) for i in taps):
            raise CheckpointError(
                f"backbone '{spec.name}': feature_indices {taps} must be {len(STRIDES)} indices within "
                f"±{len(info)} (the model's feature_info: {info})"
            )
        self.feature_indices = tuple(i % len(info) for i in taps)
        self.out_channels = [info[t][0] for t in self.feature_indices]
        self.strides = STRIDES
        self.pyramid = nn.ModuleList(_resampler(info[t][0], info[t][1], s)
                                     for t, s in zip(self.feature_indices, STRIDES))
        self.num_features = int(info[-1][0] if self.features_only else encoder.num_features)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in ``[0, 1]`` → normalised with this backbone's mean/std."""
        return (x - self.mean) / self.std

    def forward_global(self, x: torch.Tensor) -> torch.Tensor:
        """The global image feature ``[B, num_features]`` (timm's pooled pre-logits)."""
        if self.features_only:
            return self.encoder(x)[-1].mean(dim=(2, 3))  # deepest map, average-pooled
        return self.encoder(x)  # num_classes=0 → pooled pre-logits

    def tap_maps(self, x: torch.Tensor, levels: Sequence[int] = (0, 1, 2, 3)) -> list[torch.Tensor]:
        """The raw tapped maps (before resampling) of pyramid ``levels``: ``[B, C_i, H/r_i, W/r_i]`` each."""
        taps = [self.feature_indices[i] for i in levels]
        wanted = sorted(set(taps))
        if self.features_only:
            outputs = self.encoder(x)
            maps = [outputs[t] for t in wanted]
        else:
            maps = self.encoder.forward_intermediates(x, indices=wanted, intermediates_only=True, output_fmt="NCHW")
        by_tap = dict(zip(wanted, maps))
        return [by_tap[t] for t in taps]

    def resample(self, levels: Sequence[int], maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Bring the tapped maps of ``levels`` to their strides (``[B, out_channels[i], H/s_i, W/s_i]``)."""
        return [self.pyramid[i](m) for i, m in zip(levels, maps)]

    def forward_multiscale(self, x: torch.Tensor, levels: Sequence[int] = (0, 1, 2, 3)) -> list[torch.Tensor]:
        """Maps at strides ``(4, 8, 16, 32)[i]`` for ``i`` in ``levels``: ``[B, out_channels[i], H/s, W/s]``."""
        return self.resample(levels, self.tap_maps(x, levels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_global`."""
        return self.forward_global(x)

    def block_groups(self) -> list[list[nn.Parameter]]:
        """The encoder's parameters grouped by depth (shallowest first) for layer-wise lr decay.

        ViT: embeddings, each block, then the final norms. Other families: timm's ``group_matcher(coarse=False)``
        (ResNet: stem, each residual block); a model without a matcher is one group.
        """
        encoder = self.encoder
        if self.family == "vit":
            top = ("norm.", "fc_norm.", "head")
            embed = [p for n, p in encoder.named_parameters() if not n.startswith(("blocks.", *top))]
            blocks = [list(b.parameters()) for b in encoder.blocks]
            return [embed, *blocks, [p for n, p in encoder.named_parameters() if n.startswith(top)]]
        matcher = getattr(encoder, "group_matcher", None)
        if matcher is None:
            return [list(encoder.parameters())]
        from timm.models import group_parameters

        params = dict(encoder.named_parameters())
        return [[params[n] for n in names] for names in group_parameters(encoder, matcher(coarse=False)).values()]


@dataclass(frozen=True)
class BackboneLayout:
    """What the decoders of the dense protocols need to know about a backbone, without its weights."""

    family: Family
    num_features: int
    out_channels: tuple[int, ...]  # per stride 4, 8, 16, 32
    feature_indices: tuple[int, ...]


def import_ref(ref: str) -> object:
    """Import ``"package.module:attr"`` (or a bare module path) and return the object; errors name ``ref``."""
    module_name, _, attr = ref.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import '{ref}': {exc}") from exc
    return obj


def _timm_create(spec: BackboneSpec, kwargs: Mapping, **extra) -> nn.Module:
    import timm

    try:
        return timm.create_model(spec.arch, pretrained=False, num_classes=0, **extra, **kwargs)
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
        raise CheckpointError(f"backbone '{spec.name}': cannot build timm model '{spec.arch}' with {dict(kwargs)}: "
                              f"{exc}") from exc


def model_family(spec: BackboneSpec) -> Family:
    """``"vit"`` when timm builds a token model (patch embedding + blocks) for ``spec.arch``, else ``"cnn"``.

    Decided from a weightless build on the meta device (no memory, nothing downloaded).
    """
    kwargs = {k: v for k, v in spec.model_kwargs.items() if k not in VIT_ONLY_KWARGS}
    with torch.device("meta"):
        return "vit" if _is_token_model(_timm_create(spec, kwargs)) else "cnn"


def create_encoder(spec: BackboneSpec, *, img_size: int | None = None) -> nn.Module:
    """``timm.create_model`` for ``spec`` without any pretrained download (``pretrained=False``, ``num_classes=0``).

    ViTs: ``img_size`` defaults to ``spec.input_size`` and ``fc_norm`` to ``False`` (the final ``norm`` is applied
    to every token before pooling, so the parameter names are those of timm's default ViT for both poolings and a
    weight file loads strictly whichever pooling the evaluation uses); ``img_size`` other than the built size
    turns on timm's ``dynamic_img_size`` (position embeddings interpolated per forward, the file still loads
    strictly). The family is ``spec.family`` (or, when empty, decided from a weightless build): a Swin gets
    ``img_size`` as well. CNNs: ``model_kwargs`` go to timm as they are; ViT-only keywords and
    ``global_pool="token"`` are refused with a CheckpointError.
    """
    kwargs = dict(spec.model_kwargs)
    family = spec.family or model_family(spec)
    if BACKBONE_FAMILIES[family]["token"]:
        kwargs.setdefault("img_size", spec.input_size)
        kwargs.setdefault("fc_norm", False)  # keep `norm.*` whatever the pooling, so one state dict fits both
        if img_size is not None and int(img_size) != int(kwargs["img_size"]):
            kwargs["dynamic_img_size"] = True
        return _timm_create(spec, kwargs, global_pool=spec.global_pool)
    if BACKBONE_FAMILIES[family]["img_size"]:  # a hierarchical transformer (Swin) is built for one input size
        kwargs.setdefault("img_size", int(img_size or spec.input_size))
    allowed = {"img_size"} if BACKBONE_FAMILIES[family]["img_size"] else set()
    vit_only = sorted(set(kwargs) & set(VIT_ONLY_KWARGS) - allowed)
    if vit_only:
        raise CheckpointError(f"backbone '{spec.name}': {vit_only} apply to ViTs only, '{spec.arch}' is a {family}")
    if spec.global_pool != "avg":
        raise CheckpointError(f"backbone '{spec.name}': global_pool '{spec.global_pool}' needs a token model; "
                              f"'{spec.arch}' pools 'avg'")
    return _timm_create(spec, kwargs, global_pool="avg")


def describe_backbone(spec: BackboneSpec) -> BackboneLayout:
    """Family, global width, per-stride channels and taps of ``spec``, from a weightless meta-device build."""
    with torch.device("meta"):
        backbone = Backbone(spec, create_encoder(spec))
    return BackboneLayout(backbone.family, backbone.num_features, tuple(backbone.out_channels),
                          backbone.feature_indices)


def build_backbone(
    spec: BackboneSpec, weights_path: Path | None, *, strict: bool = True, img_size: int | None = None
) -> Backbone:
    """Build the :class:`Backbone` of ``spec`` and load ``weights_path`` into its encoder (random init if ``None``).

    The state dict goes through ``spec.adapt_state_dict`` (``"module:function"`` called as
    ``fn(state_dict, encoder) -> state_dict``) when set, and is then loaded strictly by default:
    a mismatch raises :class:`CheckpointError` naming the file and the missing/unexpected/wrong-shape keys.
    ``img_size``: the input size the model will see (ViTs only; see :func:`create_encoder`).
    """
    encoder = create_encoder(spec, img_size=img_size)
    if weights_path is not None:
        state = load_state_dict_file(Path(weights_path))
        if spec.adapt_state_dict:
            adapt: Callable = import_ref(spec.adapt_state_dict)  # type: ignore[assignment]
            state = adapt(state, encoder)
        load_strict(encoder, state, source=weights_path, strict=strict)
    return Backbone(spec, encoder)


_FITS: dict[tuple, None] = {}


def check_weights_fit(spec: BackboneSpec, weights_path: Path) -> None:
    """Refuse, before a run starts, a weight file that would not load strictly into ``spec``'s network (a
    :class:`CheckpointError` naming the file and the keys), so that the mistake leaves no record.

    The network is built on the meta device (no memory for its weights) and the file goes through the spec's
    adapter as in :func:`build_backbone`. An adapter that cannot work on a meta-device model (it computes with the
    model's tensors) skips the check: the run itself then loads strictly. Remembered per (spec, file) in-process.
    """
    import json

    from ecamp_bench.models.checkpoints import strict_load_problems, weights_sha256
    from ecamp_bench.specs import backbone_to_data

    key = (json.dumps(backbone_to_data(spec), sort_keys=True, default=str), weights_sha256(weights_path))
    if key in _FITS:
        return
    with torch.device("meta"):
        encoder = create_encoder(spec)
    state = load_state_dict_file(Path(weights_path))
    if spec.adapt_state_dict:
        adapt: Callable = import_ref(spec.adapt_state_dict)  # type: ignore[assignment]
        try:
            state = adapt(state, encoder)
        except CheckpointError:
            raise
        except Exception:  # noqa: BLE001 (an adapter that needs real model tensors: the run checks instead)
            return
    problems = strict_load_problems(encoder, state)
    if problems:
        raise CheckpointError(f"{weights_path}: weights do not match backbone '{spec.name}' ({spec.arch}): {problems}")
    _FITS[key] = None


def with_taps(spec: BackboneSpec, feature_indices: Sequence[int] | None) -> BackboneSpec:
    """``spec`` with other taps (0-based ``feature_info`` indices, negative from the end); ``None`` keeps them."""
    return spec if feature_indices is None else replace(spec, feature_indices=tuple(int(i) for i in feature_indices))


def state_digest(module: nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes and bytes): the identity of in-memory weights."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()
