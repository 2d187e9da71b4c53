"""ECAMP: masked image modelling + context-guided super-resolution + context-aware masked language modelling.

One model file that follows docs/method.md, "Model", in order (MAE style): ``patchify`` / ``unpatchify``,
``random_masking``, ``forward_encoder`` (timm ViT, only visible patches), ``forward_decoder`` (MAE decoder),
``forward_sr`` (super-resolution head), ``forward_text`` (multimodal BERT with the context fusion layer,
``ecamp_text.py``), the three losses, and ``forward``. Shapes: ``N`` batch, ``L`` patches, ``D`` width,
``p`` patch size, ``T`` text length.

The image encoder *is* a timm ``VisionTransformer`` (``self.encoder``), so its state dict exports unchanged
as a backbone file (``encoder_state_dict``, ``encoder_model_kwargs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

import ecamp_bench  # noqa: F401  (installs the torchvision hook before timm is imported)
import timm
from timm.models.vision_transformer import Block

from ecamp_bench.models.ecamp_text import MultimodalBert, bert_config


@dataclass
class ECAMPModelConfig:
    """Hyper-parameters of the ECAMP model; the defaults are the *paper* values (ViT-B/16 at 224 → 448)."""

    arch: str = "vit_base_patch16_224"  # timm name of the encoder; the fields below override its defaults
    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    mask_ratio: float = 0.75
    decoder_embed_dim: int = 512
    decoder_depth: int = 4
    decoder_num_heads: int = 16
    sr_scale: int = 2  # the SR head outputs sr_scale × img_size (448 for the paper)
    # Width of the SR head's hidden conv3×3. The reference fixes it at 3 (conv 3→3→3, 168 parameters); a
    # wider head is an option (64 channels cost ~30 % of a ViT-B step on CPU and ~87 MB of activations per image).
    sr_channels: int = 3
    # The reference ends the SR head with a ReLU, which cannot produce the negative values of a normalised
    # target image. False (default) drops it; True keeps it for `reference` fidelity.
    sr_final_relu: bool = False
    # "all-pixels" (reference): squared error × mask averaged over ALL pixels, i.e. MIM = 0.75 × masked-pixel
    # MSE and SR = (region area / image area) × region MSE. "masked": the mean over the masked/region pixels.
    loss_average: Literal["all-pixels", "masked"] = "all-pixels"
    vocab_size: int = 30000  # replaced by the tokenizer's vocabulary size at build time
    text_hidden: int = 768
    text_layers: int = 6
    text_heads: int = 6
    text_ffn: int = 1536
    text_max_len: int = 256
    text_dropout: float = 0.1
    # "sdpa": F.scaled_dot_product_attention in the ViT (timm) and the BERT self-attention; "eager": explicit
    # softmax(QKᵀ)V as the reference computes it (same function, slower). The fusion layer's cross-attention is
    # always eager: its probabilities are returned for the SR windows.
    attention: Literal["sdpa", "eager"] = "sdpa"
    # "default": timm's ViT init, BERT's normal(0.02), MAE's xavier-uniform decoder. "reference": the reference's
    # xavier-uniform on every linear layer (encoder, decoder, BERT), zero biases, and a zero [PAD] embedding row.
    init: Literal["default", "reference"] = "default"
    loss_weights: dict[str, float] = field(default_factory=lambda: {"mim": 1.0, "sr": 1.0, "mlm": 1.0})


@dataclass
class ECAMPOutput:
    """What :meth:`ECAMP.forward` returns: the weighted total loss, each loss, and the intermediate tensors."""

    loss: torch.Tensor  # scalar
    losses: dict[str, torch.Tensor]  # "mim", "sr", "mlm" (scalars, unweighted)
    pred: torch.Tensor  # [N, L, p*p*3] decoder prediction
    mask: torch.Tensor  # [N, L] 0 = visible, 1 = masked
    sr_image: torch.Tensor  # [N, 3, s*H, s*W]
    mlm_logits: torch.Tensor  # [N, T, V], or [K, V] at the K positions of ``mlm_positions`` when given
    cross_attention: torch.Tensor  # [N, heads, T, Lv] text → visible patches


def sincos_pos_embed_2d(dim: int, grid: int, cls_token: bool = True) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding, [1 + grid², dim] with a zero row for CLS (MAE layout).

    Half of the channels encode the column (x) coordinate, half the row (y); each half is [sin | cos] of
    the coordinate times the frequencies 1 / 10000^(k / (dim/4)).
    """
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))  # [dim/4]
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                                indexing="ij")

    def encode(pos: torch.Tensor) -> torch.Tensor:  # [g, g] → [g*g, dim/2]
        angles = pos.reshape(-1, 1) * omega[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    emb = torch.cat([encode(cols), encode(rows)], dim=1)  # [g*g, dim]
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=emb.dtype), emb], dim=0)
    return emb.float()


def conv3x3_taps(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for a 3×3 kernel written as 9 shifted multiply-adds.

    x: [N, C, H, W]; weight: [O, C, 3, 3]; bias: [O] → [N, O, H, W]. The same sum as the convolution (in another
    order: equal within float rounding). Under ``torch.compile`` this becomes one element-wise kernel that reads
    x once and writes the output once, with no layout conversion: for the few channels of the SR head that is
    what its FLOPs and bytes say, where a library convolution of 3 channels runs far below both ceilings.
    """
    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    out = None
    for dy in range(3):
        for dx in range(3):
            tap = padded[:, None, :, dy : dy + height, dx : dx + width]  # [N, 1, C, H, W]
            term = (tap * weight[None, :, :, dy, dx, None, None]).sum(dim=2)  # [N, O, H, W]
            out = term if out is None else out + term
    return out if bias is None else out + bias[None, :, None, None]


class SRHead(nn.Module):
    """Context-guided super-resolution head: ↑×s bilinear → conv3×3 → ReLU → conv3×3, + the upsampled input.

    ``taps``: compute the convolutions with :func:`conv3x3_taps` (used inside a compiled region, where it fuses);
    otherwise the library convolution, on CUDA in channels-last memory format (cuDNN's bf16 kernels are NHWC:
    an NCHW input would be converted there and back in every call). Same function either way.
    """

    def __init__(self, scale: int, channels: int, final_relu: bool):
        super().__init__()
        self.scale, self.final_relu = scale, final_relu
        self.conv1 = nn.Conv2d(3, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, 3, kernel_size=3, padding=1)

    def forward(self, img: torch.Tensor, taps: bool = False) -> torch.Tensor:
        """img: [N, 3, H, W] → [N, 3, s*H, s*W]."""
        up = F.interpolate(img, scale_factor=self.scale, mode="bilinear", align_corners=False)
        if taps:
            hidden = F.relu(conv3x3_taps(up, self.conv1.weight, self.conv1.bias))
            out = conv3x3_taps(hidden, self.conv2.weight, self.conv2.bias) + up
        else:
            if up.is_cuda:
                up = up.contiguous(memory_format=torch.channels_last)
            out = self.conv2(F.relu(self.conv1(up))) + up
        return F.relu(out) if self.final_relu else out


class ECAMP(nn.Module):
    """The ECAMP pre-training model (docs/method.md, "Model")."""

    def __init__(self, cfg: ECAMPModelConfig):
        super().__init__()
        self.cfg = cfg
        # --------------------------------------------------------------------------
        # encoder specifics: a plain timm ViT with a fixed (frozen) sin-cos position embedding
        self.encoder = timm.create_model(cfg.arch, pretrained=False, num_classes=0, **self.encoder_model_kwargs())
        self.grid = cfg.img_size // cfg.patch_size
        self.num_patches = self.grid**2
        self.encoder.pos_embed.requires_grad_(False)
        with torch.no_grad():
            self.encoder.pos_embed.copy_(sincos_pos_embed_2d(cfg.embed_dim, self.grid)[None])
        # --------------------------------------------------------------------------
        # decoder specifics (MAE decoder)
        self.decoder_embed = nn.Linear(cfg.embed_dim, cfg.decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_embed_dim))
        self.register_buffer(
            "decoder_pos_embed", sincos_pos_embed_2d(cfg.decoder_embed_dim, self.grid)[None], persistent=False
        )
        self.decoder_blocks = nn.ModuleList(
            Block(cfg.decoder_embed_dim, cfg.decoder_num_heads, cfg.mlp_ratio, qkv_bias=True,
                  norm_layer=partial(nn.LayerNorm, eps=1e-6))
            for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(cfg.decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(cfg.decoder_embed_dim, cfg.patch_size**2 * 3)
        # --------------------------------------------------------------------------
        # super-resolution and text specifics
        self.sr_head = SRHead(cfg.sr_scale, cfg.sr_channels, cfg.sr_final_relu)
        text_config = bert_config(cfg.vocab_size, cfg.text_hidden, cfg.text_layers, cfg.text_heads, cfg.text_ffn,
                                  cfg.text_max_len, cfg.text_dropout, attn_implementation=cfg.attention)
        self.text = MultimodalBert(text_config, image_dim=cfg.embed_dim)
        self._sr_and_loss = None  # the compiled SR branch (compile_regions)
        self._init_decoder()
        if cfg.init == "reference":
            self._init_reference()
        self.set_attention(cfg.attention)

    def set_attention(self, implementation: Literal["sdpa", "eager"]) -> None:
        """Switch the ViT/decoder blocks (timm's ``fused_attn``) and the BERT self-attention between
        ``F.scaled_dot_product_attention`` and explicit attention; the parameters are unchanged."""
        if implementation not in ("sdpa", "eager"):
            raise ValueError(f"attention must be 'sdpa' or 'eager', got {implementation!r}")
        self.cfg.attention = implementation
        for module in self.modules():
            if hasattr(module, "fused_attn"):
                module.fused_attn = implementation == "sdpa"
        self.text.config._attn_implementation = implementation

    def _init_reference(self) -> None:
        """The reference's initialisation (MAE's ``initialize_weights`` applied to the whole model): patch
        embedding xavier-uniform as a linear layer, every ``nn.Linear`` xavier-uniform with zero bias, every
        LayerNorm 1/0, CLS and mask token normal(0.02); the text embeddings keep BERT's normal(0.02) with the
        [PAD] row zero. Fixed sin-cos position embeddings are untouched."""
        weight = self.encoder.patch_embed.proj.weight
        with torch.no_grad():
            nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        embedding = self.text.embeddings.word_embeddings
        with torch.no_grad():
            embedding.weight[embedding.padding_idx].zero_()

    def _init_decoder(self) -> None:
        """MAE initialisation of the decoder side: xavier-uniform linears, normal(0.02) mask token."""
        nn.init.normal_(self.mask_token, std=0.02)
        for module in [self.decoder_embed, self.decoder_pred, *self.decoder_blocks.modules()]:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def encoder_model_kwargs(self) -> dict:
        """The ``timm.create_model(arch, num_classes=0, **kwargs)`` overrides that rebuild the encoder."""
        c = self.cfg
        return {"img_size": c.img_size, "patch_size": c.patch_size, "embed_dim": c.embed_dim, "depth": c.depth,
                "num_heads": c.num_heads, "mlp_ratio": c.mlp_ratio}

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder's weights under timm ViT names (detached CPU copies), ready for a backbone file."""
        return {k: v.detach().cpu().clone() for k, v in self.encoder.state_dict().items()}

    # ------------------------------------------------------------------------------
    # patches
    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """imgs: [N, 3, H, W] → [N, L, p*p*3] (patch rows in raster order, pixels (p, q, c) inside a patch)."""
        p = self.cfg.patch_size
        n, c, h, w = imgs.shape
        x = imgs.reshape(n, c, h // p, p, w // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, L, p*p*3] → [N, 3, H, W] (inverse of :meth:`patchify`)."""
        p, g = self.cfg.patch_size, self.grid
        x = x.reshape(x.shape[0], g, g, p, p, 3)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], 3, g * p, g * p)

    @staticmethod
    def masking_indices(n: int, length: int, mask_ratio: float, device: torch.device | str | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The draw of :meth:`random_masking` without the tokens: (ids_keep [N, L_keep], mask [N, L] with
        0 keep / 1 remove, ids_restore [N, L]); uses the same random numbers (one ``torch.rand(N, L)``)."""
        if mask_ratio == 0:
            ids = torch.arange(length, device=device).expand(n, length)
            return ids, torch.zeros(n, length, device=device), ids
        len_keep = int(length * (1 - mask_ratio))
        noise = torch.rand(n, length, device=device)  # [N, L]
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        mask = torch.ones(n, length, device=device)
        mask[:, :len_keep] = 0
        return ids_shuffle[:, :len_keep], torch.gather(mask, 1, ids_restore), ids_restore

    @staticmethod
    def random_masking(x: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a random (1 - mask_ratio) share of the tokens of each sample (argsort of uniform noise).

        x: [N, L, D] → (x_visible [N, L_keep, D], mask [N, L] with 0 keep / 1 remove, ids_restore [N, L]).
        A ratio of 0 keeps every token in its original order.
        """
        n, length, d = x.shape
        ids_keep, mask, ids_restore = ECAMP.masking_indices(n, length, mask_ratio, x.device)
        if mask_ratio == 0:
            return x, mask, ids_restore
        return torch.gather(x, 1, ids_keep[:, :, None].expand(-1, -1, d)), mask, ids_restore

    # ------------------------------------------------------------------------------
    # forward passes
    def embed_visible_patches(self, imgs: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """The patch embedding (+ position) of the kept patches only: imgs [N, 3, H, W], ids_keep [N, K] →
        [N, K, D].

        Equal to timm's ``patch_embed`` (a p×p conv of stride p) on every patch followed by the gather of
        :meth:`random_masking`, computed as one matrix product over the K kept patches (a quarter of them at
        the paper's 0.75 mask ratio): no convolution, no layout conversion, no work on masked patches.
        """
        enc, p, g = self.encoder, self.cfg.patch_size, self.grid
        n, c = imgs.shape[:2]
        weight = enc.patch_embed.proj.weight  # [D, C, p, p]
        pixels = imgs.reshape(n, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(n, g * g, c * p * p)
        pixels = torch.gather(pixels, 1, ids_keep[:, :, None].expand(-1, -1, pixels.shape[-1]))  # [N, K, C*p*p]
        x = enc.patch_embed.norm(F.linear(pixels, weight.reshape(weight.shape[0], -1), enc.patch_embed.proj.bias))
        pos = enc.pos_embed[:, 1:, :].expand(n, -1, -1)
        return x + torch.gather(pos, 1, ids_keep[:, :, None].expand(-1, -1, pos.shape[-1]))

    def forward_encoder(self, imgs: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """imgs: [N, 3, H, W] → (latent [N, 1 + L_keep, D] incl. CLS, mask [N, L], ids_restore [N, L])."""
        enc = self.encoder
        ids_keep, mask, ids_restore = self.masking_indices(imgs.shape[0], self.num_patches, mask_ratio, imgs.device)
        x = self.embed_visible_patches(imgs, ids_keep)  # [N, L_keep, D]
        cls = (enc.cls_token + enc.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)  # [N, 1, D]
        x = enc.norm_pre(torch.cat([cls, x], dim=1))
        x = enc.norm(enc.blocks(x))
        return x, mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent: [N, 1 + L_keep, D] → pixel predictions of every patch [N, L, p*p*3]."""
        x = self.decoder_embed(latent)  # [N, 1 + L_keep, Dd]
        n, length = ids_restore.shape
        mask_tokens = self.mask_token.expand(n, length + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # [N, L, Dd] in shuffled order
        patches = torch.gather(patches, 1, ids_restore[:, :, None].expand(-1, -1, x.shape[2]))  # unshuffle
        x = torch.cat([x[:, :1, :], patches], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:, :]  # drop CLS

    def forward_sr(self, pred: torch.Tensor, taps: bool = False) -> torch.Tensor:
        """pred: [N, L, p*p*3] → the super-resolved reconstruction [N, 3, s*H, s*W]."""
        return self.sr_head(self.unpatchify(pred), taps=taps)

    def sr_and_loss(self, pred: torch.Tensor, imgs_hr: torch.Tensor, region: torch.Tensor, taps: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The SR branch from the decoder's prediction to its loss: (sr_image [N, 3, sH, sW], loss scalar).

        One function so that :meth:`compile_regions` can compile it whole: unpatchify, upsampling, both
        convolutions, residual, squared error and mask fuse into a few element-wise and reduction kernels.
        """
        sr_image = self.forward_sr(pred, taps=taps)
        return sr_image, self.forward_loss_sr(imgs_hr, sr_image, region)

    def compile_regions(self, *, blocks: bool = True, **options) -> None:
        """``torch.compile`` the parts of the step that compile without graph breaks, in place: every encoder,
        decoder and BERT block, the fusion layer (``blocks``), and the SR branch with its loss (convolutions as
        taps).

        The whole model does not compile as one graph (the MLM logits at data-dependent positions, the text's
        varying width): compiling these regions keeps every FLOP-heavy part inside a compiled graph.
        ``options`` go to ``torch.compile``.
        """
        regions = [*self.encoder.blocks, *self.decoder_blocks, *self.text.encoder.layer, self.text.fusion]
        for block in regions if blocks else ():
            block.compile(**options)
        self._sr_and_loss = torch.compile(partial(self.sr_and_loss, taps=True), **options)

    def forward_text(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, latent: torch.Tensor,
        mlm_positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Multimodal BERT over the visible patch tokens latent[:, 1:] → (logits, attn [N, h, T, Lv]).

        logits: [N, T, V], or [K, V] at the K True positions of ``mlm_positions [N, T]`` (row-major order).
        """
        return self.text(input_ids, attention_mask, latent[:, 1:, :], mlm_positions)

    # ------------------------------------------------------------------------------
    # losses
    def _average(self, sq_err: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Sum of sq_err × weight over the batch, divided by all pixels ("all-pixels") or the weighted ones."""
        total = (sq_err * weight).sum()
        if self.cfg.loss_average == "all-pixels":
            return total / sq_err.numel()
        return total / (weight.expand_as(sq_err).sum()).clamp_min(1.0)

    def forward_loss_mim(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Squared error of the predicted (normalised) pixels on the masked patches.

        imgs: [N, 3, H, W]; pred: [N, L, p*p*3]; mask: [N, L] (1 = masked).
        """
        sq_err = (pred.float() - self.patchify(imgs).float()) ** 2  # [N, L, p*p*3]
        return self._average(sq_err, mask[:, :, None].float())

    def forward_loss_sr(self, imgs_hr: torch.Tensor, sr_image: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """Squared error of the super-resolved image inside the SR region.

        imgs_hr, sr_image: [N, 3, sH, sW]; region: [N, 1, sH, sW] (1 inside the region).
        """
        sq_err = (sr_image.float() - imgs_hr.float()) ** 2
        return self._average(sq_err, region.float())

    def forward(
        self,
        imgs: torch.Tensor,
        imgs_hr: torch.Tensor,
        sr_region: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        mlm_loss_fn,
        loss_weights: Mapping[str, float] | None = None,
        mlm_positions: torch.Tensor | None = None,
    ) -> ECAMPOutput:
        """One pre-training pass.

        imgs [N, 3, H, W] encoder input; imgs_hr [N, 3, sH, sW] SR target; sr_region [N, 1, sH, sW];
        input_ids / attention_mask [N, T] the masked text; ``mlm_loss_fn(logits) -> scalar`` the weighted MLM
        loss of this batch (``ecamp_bench.text.masking.mlm_loss`` bound to the text batch).
        ``loss_weights`` overrides ``cfg.loss_weights`` (e.g. ``sr = 0`` in the first stage of the
        ``attention`` SR rule); every loss is still computed so that all parameters take part (DDP).
        ``mlm_positions [N, T]`` (bool): compute vocabulary logits only there (the positions that carry loss);
        ``mlm_loss_fn`` then receives ``[K, V]``.
        """
        latent, mask, ids_restore = self.forward_encoder(imgs, self.cfg.mask_ratio)
        pred = self.forward_decoder(latent, ids_restore)
        sr_image, sr_loss = (self._sr_and_loss or self.sr_and_loss)(pred, imgs_hr, sr_region)
        logits, attn = self.forward_text(input_ids, attention_mask, latent, mlm_positions)
        losses = {
            "mim": self.forward_loss_mim(imgs, pred, mask),
            "sr": sr_loss,
            "mlm": mlm_loss_fn(logits.float()),
        }
        weights = {**self.cfg.loss_weights, **(loss_weights or {})}
        loss = sum(weights[name] * value for name, value in losses.items())
        return ECAMPOutput(loss, losses, pred, mask, sr_image, logits, attn)

    @torch.no_grad()
    def cross_attention_map(self, imgs: torch.Tensor, input_ids: torch.Tensor,
                            attention_mask: torch.Tensor) -> torch.Tensor:
        """Text→image attention of the fusion layer over ALL patches (no masking): [N, heads, T, grid, grid].

        Runs in eval mode (no dropout on the attention probabilities) and restores the previous mode.
        """
        was_training = self.training
        self.eval()
        latent, _, _ = self.forward_encoder(imgs, mask_ratio=0.0)
        _, attn = self.forward_text(input_ids, attention_mask, latent)  # [N, h, T, L]
        self.train(was_training)
        return attn.reshape(*attn.shape[:3], self.grid, self.grid)


def parameter_counts(model: ECAMP) -> dict[str, int]:
    """Parameter counts per part (trainable + frozen): encoder, decoder, sr_head, text, total."""
    count = lambda params: sum(p.numel() for p in params)  # noqa: E731
    decoder = [model.mask_token, *model.decoder_embed.parameters(), *model.decoder_blocks.parameters(),
               *model.decoder_norm.parameters(), *model.decoder_pred.parameters()]
    return {
        "encoder": count(model.encoder.parameters()),
        "decoder": count(decoder),
        "sr_head": count(model.sr_head.parameters()),
        "text": count(model.text.parameters()),
        "total": count(model.parameters()),
    }
