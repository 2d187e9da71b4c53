"""One image-encoder interface for every task: a timm ViT with a global feature and multi-scale maps.

:class:`Backbone` wraps ``timm.create_model(spec.arch, num_classes=0, ...)``:

- ``forward_global(x) -> [B, D]``: the CLS token (``global_pool="token"``) or the mean of the patch tokens
  (``"avg"``, MRM/MAE style, through timm's ``fc_norm``) — classification uses this.
- ``forward_multiscale(x) -> [P4, P8, P16, P32]``: the token maps of 4 evenly spaced blocks (ViT-B: blocks
  4, 6, 8, 12 counted from 1, i.e. MRM's ``{3, 5, 7, 11}``), reshaped to ``[B, D, H/p, W/p]`` and resampled
  to strides 4, 8, 16 and 32 ViTDet/BEiT-style: two 2×2 transposed convolutions (with BatchNorm + GELU
  between), one transposed convolution, identity, and 2×2 max-pooling (for patch 16; other patch sizes
  get the matching number of ×2 steps). The resampling layers are freshly initialised: the dense
  protocols train them together with their decoder.

``x`` is a normalised ``[B, 3, H, W]`` batch; :meth:`Backbone.normalize` turns a ``[0, 1]`` batch into one
with the mean/std the weights were trained with (carried by the backbone, from its spec).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

import ecamp_bench  # noqa: F401  (installs the torchvision hook before timm is imported)
from ecamp_bench.errors import CheckpointError, PluginError
from ecamp_bench.models.checkpoints import load_state_dict_file, load_strict
from ecamp_bench.specs import BackboneSpec

STRIDES = (4, 8, 16, 32)


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


def _resampler(channels: int, patch_size: int, stride: int) -> nn.Module:
    """Map a stride-``patch_size`` map to stride ``stride`` (ViTDet/BEiT simple pyramid)."""
    if stride == patch_size:
        return nn.Identity()
    if stride > patch_size:
        factor = stride // patch_size
        if factor * patch_size != stride or factor & (factor - 1):
            raise ValueError(f"cannot pool patch size {patch_size} to stride {stride}")
        return nn.MaxPool2d(kernel_size=factor, stride=factor)
    factor = patch_size // stride
    if factor * stride != patch_size or factor & (factor - 1):
        raise ValueError(f"cannot upsample patch size {patch_size} to stride {stride}")
    layers: list[nn.Module] = []
    for step in range(int(math.log2(factor))):
        if step:
            layers += [nn.BatchNorm2d(channels), nn.GELU()]
        layers.append(nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class Backbone(nn.Module):
    """A timm ViT plus the normalisation it expects and a simple feature pyramid (see the module docstring).

    Attributes: ``spec`` (the :class:`BackboneSpec`), ``vit`` (the timm model), ``embed_dim``,
    ``patch_size``, ``input_size``, ``feature_indices`` (0-based blocks tapped), ``out_channels``
    (``[D] * 4``), ``strides`` ``(4, 8, 16, 32)``, and ``mean``/``std`` buffers of shape ``[1, 3, 1, 1]``.
    """

    def __init__(self, spec: BackboneSpec, vit: nn.Module):
        super().__init__()
        self.spec = spec
        self.vit = vit
        self.embed_dim = int(vit.num_features)
        patch = vit.patch_embed.patch_size
        self.patch_size = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
        self.input_size = int(spec.input_size)
        depth = len(vit.blocks)
        self.feature_indices = tuple(spec.feature_indices) if spec.feature_indices else feature_block_indices(depth)
        if any(not 0 <= i < depth for i in self.feature_indices):
            raise CheckpointError(f"backbone '{spec.name}': feature_indices {self.feature_indices} outside 0..{depth - 1}")
        self.out_channels = [self.embed_dim] * len(STRIDES)
        self.strides = STRIDES
        self.pyramid = nn.ModuleList(_resampler(self.embed_dim, self.patch_size, s) for s in STRIDES)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in ``[0, 1]`` → normalised with this backbone's mean/std."""
        return (x - self.mean) / self.std

    def forward_global(self, x: torch.Tensor) -> torch.Tensor:
        """The global image feature ``[B, D]`` (CLS token or mean-pooled patch tokens, per the spec)."""
        return self.vit(x)  # num_classes=0 → pooled pre-logits, [B, D]

    def forward_multiscale(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four maps ``[B, D, H/4, W/4]``, ``[B, D, H/8, W/8]``, ``[B, D, H/16, W/16]``, ``[B, D, H/32, W/32]``."""
        maps = self.vit.forward_intermediates(
            x, indices=list(self.feature_indices), intermediates_only=True, output_fmt="NCHW"
        )  # 4 × [B, D, H/p, W/p]
        return [resample(m) for resample, m in zip(self.pyramid, maps)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_global`."""
        return self.forward_global(x)

    def block_groups(self) -> list[list[nn.Parameter]]:
        """Parameters grouped by depth for layer-wise lr decay: embeddings, each block, then the final norms."""
        vit = self.vit
        embed = [p for n, p in vit.named_parameters() if not n.startswith(("blocks.", "norm.", "fc_norm.", "head"))]
        blocks = [list(b.parameters()) for b in vit.blocks]
        top = [p for n, p in vit.named_parameters() if n.startswith(("norm.", "fc_norm.", "head"))]
        return [embed, *blocks, top]


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


def create_vit(spec: BackboneSpec) -> nn.Module:
    """``timm.create_model`` for ``spec`` without any pretrained download (``pretrained=False``).

    ``fc_norm`` defaults to ``False``: the final ``norm`` is applied to every token before pooling, so the
    parameter names are those of timm's default (token-pooled) ViT for both ``"token"`` and ``"avg"``
    pooling, and a weight file loads strictly whichever pooling the evaluation uses.
    """
    import timm

    kwargs = dict(spec.model_kwargs)
    kwargs.setdefault("img_size", spec.input_size)
    kwargs.setdefault("fc_norm", False)  # keep `norm.*` whatever the pooling, so one state dict fits both
    try:
        return timm.create_model(spec.arch, pretrained=False, num_classes=0, global_pool=spec.global_pool, **kwargs)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"backbone '{spec.name}': cannot build timm model '{spec.arch}' with {kwargs}: {exc}") from exc


def build_backbone(spec: BackboneSpec, weights_path: Path | None, *, strict: bool = True) -> Backbone:
    """Build the :class:`Backbone` of ``spec`` and load ``weights_path`` into its ViT (random init if ``None``).

    The state dict goes through ``spec.adapt_state_dict`` (``"module:function"`` called as
    ``fn(state_dict, vit) -> state_dict``) when set, and is then loaded strictly by default:
    a mismatch raises :class:`CheckpointError` naming the file and the missing/unexpected/wrong-shape keys.
    """
    vit = create_vit(spec)
    if weights_path is not None:
        state = load_state_dict_file(Path(weights_path))
        if spec.adapt_state_dict:
            adapt: Callable = import_ref(spec.adapt_state_dict)  # type: ignore[assignment]
            state = adapt(state, vit)
        load_strict(vit, state, source=weights_path, strict=strict)
    return Backbone(spec, vit)


def adapt_timm_state_dict(state_dict: Mapping[str, torch.Tensor], vit: nn.Module) -> dict[str, torch.Tensor]:
    """Adapter for plain timm checkpoints: drop the classifier head and resample ``pos_embed`` to ``vit``'s grid."""
    from timm.layers import resample_abs_pos_embed

    state = {k: v for k, v in state_dict.items() if not k.startswith("head.")}
    target = vit.state_dict().get("pos_embed")
    pos = state.get("pos_embed")
    if target is not None and pos is not None and pos.shape != target.shape:
        prefix = 0 if getattr(vit, "no_embed_class", False) else int(getattr(vit, "num_prefix_tokens", 1))
        grid = vit.patch_embed.grid_size
        state["pos_embed"] = resample_abs_pos_embed(pos, new_size=list(grid), num_prefix_tokens=prefix)
    return state


def state_digest(module: nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes and bytes): the identity of in-memory weights."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def parameter_groups_with_layer_decay(
    backbone: Backbone, head: nn.Module, *, lr: float, weight_decay: float, layer_decay: float
) -> list[dict]:
    """AdamW/SGD parameter groups with layer-wise lr decay (BEiT/MAE): lr × decay^(depth − layer).

    The head and final norms get ``lr``; block ``i`` (0-based) gets ``lr * decay ** (n_blocks - i)``, the
    embeddings ``lr * decay ** (n_blocks + 1)``. Biases and 1-D parameters get no weight decay.
    """
    groups_by_layer: Sequence[list[nn.Parameter]] = backbone.block_groups()
    n_layers = len(groups_by_layer)  # embed + blocks + top
    groups: list[dict] = []
    for layer, params in enumerate(groups_by_layer):
        scale = layer_decay ** (n_layers - 1 - layer)
        groups += _split_decay(params, lr * scale, weight_decay)
    groups += _split_decay(list(head.parameters()), lr, weight_decay)
    return [g for g in groups if g["params"]]


def _split_decay(params: list[nn.Parameter], lr: float, weight_decay: float) -> list[dict]:
    decay = [p for p in params if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in params if p.requires_grad and p.ndim <= 1]
    return [
        {"params": decay, "lr": lr, "base_lr": lr, "weight_decay": weight_decay},
        {"params": no_decay, "lr": lr, "base_lr": lr, "weight_decay": 0.0},
    ]
