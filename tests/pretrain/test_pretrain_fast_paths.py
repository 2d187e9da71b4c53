"""The fast paths of the pre-training step compute what the slow ones compute (tiny model, eval mode).

Flattened vs transposed cross-entropy, logits only at loss positions, padding to the longest text, SDPA vs
eager attention, fused vs for-loop AdamW, bf16 autocast vs fp32 (within a stated tolerance), the reference
initialisation.
"""

from __future__ import annotations

import math

import pytest
import torch

from ecamp_bench.models.ecamp import ECAMP, ECAMPModelConfig
from ecamp_bench.models.sr_region import FULL_BOX
from ecamp_bench.pretrain.config import OptimConfig
from ecamp_bench.pretrain.loop import forward_step
from ecamp_bench.pretrain.optim import build_optimizer
from ecamp_bench.text.loss import mlm_loss
from ecamp_bench.text.masking import MaskingConfig, TextBatcher
from ecamp_bench.text.tokenizer import train_wordpiece

REPORTS = ["heart size is normal. there is no pleural effusion.",
           "small left pleural effusion with adjacent atelectasis. there is no pneumothorax. mild cardiomegaly.",
           "lungs are clear.", "there is no evidence of focal consolidation."]
CONTEXTS = ["effusion absent.", None, "pneumothorax absent.", None]


def tiny_model(**kw) -> ECAMP:
    base = dict(arch="vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2, sr_channels=3, vocab_size=120,
                text_hidden=32, text_layers=1, text_heads=2, text_ffn=64, text_max_len=48)
    torch.manual_seed(0)
    return ECAMP(ECAMPModelConfig(**{**base, **kw})).eval()  # eval: no dropout, so paths are comparable


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(REPORTS * 4, vocab_size=120, min_frequency=1)


def text_batch(tokenizer, **masking):
    cfg = MaskingConfig(max_length=48, **masking)
    return TextBatcher(tokenizer, cfg)(REPORTS, CONTEXTS, torch.Generator().manual_seed(3))


def step_losses(model, text, dtype=None, **kw) -> dict[str, float]:
    torch.manual_seed(5)  # the same MAE masking noise
    imgs_hr = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([FULL_BOX] * 4) * 64
    out = forward_step(model, imgs_hr, boxes, text, 32, None, dtype, **kw)
    return {k: v.item() for k, v in out.losses.items()}


def test_flat_sparse_and_transposed_cross_entropy_agree(tokenizer):
    for targets in ("all", "masked"):
        batch = text_batch(tokenizer, mlm_targets=targets, padding="max_length")
        logits = torch.randn(*batch.target_ids.shape, 120, generator=torch.Generator().manual_seed(0))
        flat, transposed = mlm_loss(logits, batch), mlm_loss(logits, batch, layout="reference")
        sparse = mlm_loss(logits[batch.loss_mask.bool()], batch)  # [K, V]
        assert flat.item() == pytest.approx(transposed.item(), rel=1e-6)
        assert sparse.item() == pytest.approx(flat.item(), rel=1e-6)


def test_padding_to_the_longest_text_only_drops_padding_columns(tokenizer):
    fixed = text_batch(tokenizer, mlm_targets="masked", padding="max_length")
    trimmed = text_batch(tokenizer, mlm_targets="masked")  # padding: auto
    width = trimmed.input_ids.shape[1]
    longest = int(fixed.attention_mask.sum(1).max())
    assert width == math.ceil(longest / 8) * 8 < 48
    for name in ("input_ids", "target_ids", "attention_mask", "masked", "weights", "loss_mask"):
        assert torch.equal(getattr(trimmed, name), getattr(fixed, name)[:, :width]), name
    assert not fixed.loss_mask[:, width:].any()
    # with the loss at every position, padding carries loss: the batch keeps max_length
    assert text_batch(tokenizer, mlm_targets="all").input_ids.shape[1] == 48


def test_trimmed_padding_and_sparse_logits_give_the_same_step_loss(tokenizer):
    model = tiny_model()
    fixed = text_batch(tokenizer, mlm_targets="masked", padding="max_length")
    trimmed = text_batch(tokenizer, mlm_targets="masked")
    slow = step_losses(model, fixed, sparse_logits=False)
    fast = step_losses(model, trimmed)
    for name in ("mim", "sr", "mlm"):
        assert fast[name] == pytest.approx(slow[name], rel=1e-5, abs=1e-6), name


def test_sdpa_and_eager_attention_agree(tokenizer):
    batch = text_batch(tokenizer)
    model = tiny_model()
    sdpa = step_losses(model, batch)
    model.set_attention("eager")
    eager = step_losses(model, batch)
    assert model.text.config._attn_implementation == "eager"
    assert not any(getattr(m, "fused_attn", False) for m in model.modules())
    for name in sdpa:
        assert eager[name] == pytest.approx(sdpa[name], rel=1e-5), name


def test_fused_and_for_loop_adamw_take_the_same_steps(tokenizer):
    """Three steps on the same gradients: the implementations differ by float rounding only."""
    batch = text_batch(tokenizer)
    model = tiny_model().train()
    out = forward_step(model, torch.randn(4, 3, 64, 64), torch.tensor([FULL_BOX] * 4) * 64, batch, 32, None, None)
    out.loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    params = {}
    for impl in ("fused", "for-loop"):
        replica = tiny_model()
        optimizer = build_optimizer(replica, OptimConfig(lr=1e-3, adamw=impl))
        assert optimizer.param_groups[0]["fused"] is (impl == "fused")
        for step in range(3):
            for p, g in zip([p for p in replica.parameters() if p.requires_grad], grads, strict=True):
                p.grad = g * (step + 1)
            optimizer.step()
        params[impl] = torch.cat([p.detach().flatten() for p in replica.parameters()])
    moved = (params["fused"] - torch.cat([p.detach().flatten() for p in tiny_model().parameters()])).abs().max()
    assert moved > 1e-3  # the steps moved the weights
    assert torch.allclose(params["fused"], params["for-loop"], atol=1e-7, rtol=1e-6)


BF16_TOLERANCE = 0.03  # relative: bf16 keeps 8 mantissa bits (≈ 0.4 % per rounding), a few roundings deep


def test_bf16_autocast_losses_agree_with_fp32(tokenizer):
    model = tiny_model()
    batch = text_batch(tokenizer, mlm_targets="masked")
    fp32 = step_losses(model, batch)
    bf16 = step_losses(model, batch, dtype=torch.bfloat16)
    for name in fp32:
        assert bf16[name] == pytest.approx(fp32[name], rel=BF16_TOLERANCE), name
        assert bf16[name] != fp32[name]  # autocast really ran in bf16


def test_reference_initialisation():
    default, reference = tiny_model(), tiny_model(init="reference")
    pad = reference.text.embeddings.word_embeddings
    assert pad.padding_idx == 0 and pad.weight[0].eq(0).all()
    for name in ("encoder.blocks.0.attn.qkv", "text.mlm_head.decoder", "text.fusion.image_proj", "decoder_pred"):
        layer = reference.get_submodule(name)
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))  # xavier-uniform
        assert layer.weight.abs().max() <= bound and layer.weight.std() > 0.8 * bound / math.sqrt(3), name
        assert layer.bias.eq(0).all(), name
    assert default.text.mlm_head.decoder.weight.std() < 0.03  # BERT's normal(0.02)
    assert default.encoder.blocks[0].attn.qkv.weight.std() < 0.03  # timm's trunc_normal(0.02)
