"""The multimodal BERT of ECAMP (docs/method.md, "Model"): embeddings → context fusion layer → BERT encoder → MLM head.

Built from scratch out of ``transformers`` BERT building blocks, with the vocabulary of our own tokenizer.
The **context fusion layer** is the pre-training-time "multi-scale context fusion" of §5:

    text ─ self-attention ─┬─ cross-attention(text → visible image tokens)   (fine scale: single patches)
                           └─ + linear(mean of visible image tokens)         (coarse scale: global image token)
                           ─ residual output block (dense, dropout, LayerNorm(· + text)) ─ feed-forward

Its text→image attention probabilities are returned on request: the ``attention`` SR-region rule reads them.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import (
    BertAttention,
    BertCrossAttention,
    BertEmbeddings,
    BertEncoder,
    BertIntermediate,
    BertOutput,
    BertPredictionHeadTransform,
    BertSelfOutput,
)


def bert_config(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    ffn_size: int,
    max_len: int,
    dropout: float,
    pad_id: int = 0,
    attn_implementation: str = "sdpa",
) -> BertConfig:
    """A ``BertConfig`` for our text tower (token types all 0, so one token type)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=ffn_size,
        max_position_embeddings=max_len,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        type_vocab_size=1,
        pad_token_id=pad_id,
        layer_norm_eps=1e-12,
        attn_implementation=attn_implementation,
    )


def key_padding_mask(attention_mask: torch.Tensor, additive: bool = False) -> torch.Tensor:
    """``[B, T]`` 1 = token / 0 = padding  →  boolean ``[B, 1, 1, T]`` (True = may be attended to).

    A boolean mask is dtype-free, so it works unchanged under bf16/fp16 autocast with SDPA attention. With
    ``additive`` (eager attention adds the mask to the scores): float32 0 / -inf-like (float32 min) instead.
    """
    keep = attention_mask[:, None, None, :].bool()
    if not additive:
        return keep
    return torch.where(keep, 0.0, torch.finfo(torch.float32).min).to(torch.float32)


class ContextFusionLayer(nn.Module):
    """Self-attention over the text, cross-attention to the visible image tokens plus the global image token."""

    def __init__(self, config: BertConfig, image_dim: int):
        super().__init__()
        # The cross-attention uses eager attention so that its probabilities can be returned for the SR rule.
        cross_config = BertConfig.from_dict({**config.to_dict(), "attn_implementation": "eager"})
        cross_config._attn_implementation = "eager"
        self.self_attention = BertAttention(config)
        self.image_proj = nn.Linear(image_dim, config.hidden_size)  # visible patch tokens → keys/values
        self.global_proj = nn.Linear(image_dim, config.hidden_size)  # mean visible token → global image token
        self.cross_attention = BertCrossAttention(cross_config)
        self.cross_output = BertSelfOutput(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(
        self, text: torch.Tensor, text_mask: torch.Tensor, image_tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """text: [B, T, H]; text_mask: boolean [B, 1, 1, T]; image_tokens: [B, Lv, D] (visible patches, no CLS).

        Returns the fused text [B, T, H] and the cross-attention probabilities [B, heads, T, Lv].
        """
        text, _ = self.self_attention(text, text_mask)  # [B, T, H]
        keys = self.image_proj(image_tokens)  # [B, Lv, H]
        global_token = self.global_proj(image_tokens.mean(dim=1, keepdim=True))  # [B, 1, H]
        context, attn = self.cross_attention(text, encoder_hidden_states=keys)  # [B, T, H], [B, h, T, Lv]
        fused = self.cross_output(context + global_token, text)  # residual output block
        return self.output(self.intermediate(fused), fused), attn


class MLMHead(nn.Module):
    """Transform (dense, GELU, LayerNorm) then a vocabulary projection, not tied to the input embeddings."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: [B, T, H] → logits [B, T, V]."""
        return self.decoder(self.transform(hidden))


class MultimodalBert(nn.Module):
    """BERT embeddings → :class:`ContextFusionLayer` → BERT encoder → :class:`MLMHead`."""

    def __init__(self, config: BertConfig, image_dim: int):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.fusion = ContextFusionLayer(config, image_dim)
        self.encoder = BertEncoder(config)
        self.mlm_head = MLMHead(config)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """BERT's initialisation: normal(0, 0.02) weights, zero biases, unit LayerNorm."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_tokens: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """input_ids, attention_mask: [B, T]; image_tokens: [B, Lv, D]; positions: optional bool [B, T].

        Returns MLM logits [B, T, V] (or [K, V] at the K True ``positions``, row-major: the vocabulary
        projection, the largest matmul of the text tower, is then only computed where the loss needs it)
        and the fusion layer's cross-attention [B, heads, T, Lv].
        """
        hidden = self.embeddings(input_ids=input_ids)  # [B, T, H]
        mask = key_padding_mask(attention_mask, additive=self.config._attn_implementation == "eager")  # [B, 1, 1, T]
        hidden, attn = self.fusion(hidden, mask, image_tokens)
        hidden = self.encoder(hidden, attention_mask=mask).last_hidden_state  # [B, T, H]
        if positions is not None:
            hidden = hidden[positions]  # [K, H]
        return self.mlm_head(hidden), attn
