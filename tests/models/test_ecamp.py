"""The ECAMP model: patches, masking, each loss on hand-made inputs, the fusion layer's attention."""

from __future__ import annotations

import pytest
import torch

from ecamp_bench.models.ecamp import ECAMP, ECAMPModelConfig, sincos_pos_embed_2d


def tiny_cfg(**kw) -> ECAMPModelConfig:
    base = dict(arch="vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2, sr_channels=8, vocab_size=50,
                text_hidden=32, text_layers=1, text_heads=2, text_ffn=64, text_max_len=16)
    return ECAMPModelConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def model() -> ECAMP:
    torch.manual_seed(0)
    return ECAMP(tiny_cfg())


def test_patchify_is_inverted_by_unpatchify_and_orders_patches_in_rows(model):
    imgs = torch.randn(2, 3, 32, 32)
    patches = model.patchify(imgs)
    assert patches.shape == (2, 16, 8 * 8 * 3)
    assert torch.equal(model.unpatchify(patches), imgs)
    # patch 1 is the second patch of the first row; its first pixel is image pixel (0, 8), channels last
    assert torch.equal(patches[0, 1, :3], imgs[0, :, 0, 8])


def test_random_masking_keeps_a_quarter_and_restores_order(model):
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 16, 1).expand(2, 16, 4).contiguous()
    visible, mask, ids_restore = model.random_masking(x, 0.75)
    assert visible.shape == (2, 4, 4)
    assert mask.shape == (2, 16) and torch.equal(mask.sum(1), torch.tensor([12.0, 12.0]))
    for n in range(2):  # the visible tokens are exactly those with mask 0, and ids_restore inverts the shuffle
        kept = x[n, mask[n] == 0, 0]
        assert torch.equal(visible[n, :, 0].sort().values, kept.sort().values)
    assert torch.equal(ids_restore.sort(dim=1).values, torch.arange(16).expand(2, 16))


def test_mask_ratio_zero_keeps_every_token_in_order(model):
    x = torch.randn(1, 16, 4)
    visible, mask, _ = model.random_masking(x, 0.0)
    assert torch.equal(visible, x) and mask.sum() == 0


def test_mim_loss_counts_only_masked_patches_over_all_pixels(model):
    imgs = torch.zeros(1, 3, 32, 32)
    imgs[:, :, :8, :8] = 2.0  # patch 0
    imgs[:, :, :8, 8:16] = 3.0  # patch 1
    pred = torch.zeros(1, 16, 192)
    mask = torch.zeros(1, 16)
    mask[0, 0] = 1  # only patch 0 is masked: error 4 on its 192 values, patch 1's error is ignored
    expected = 4.0 * 192 / (16 * 192)  # reference: averaged over all pixels
    assert model.forward_loss_mim(imgs, pred, mask).item() == pytest.approx(expected)
    masked_mean = ECAMP(tiny_cfg(loss_average="masked"))
    assert masked_mean.forward_loss_mim(imgs, pred, mask).item() == pytest.approx(4.0)


def test_sr_loss_looks_only_inside_the_region(model):
    target = torch.zeros(1, 3, 64, 64)
    region = torch.zeros(1, 1, 64, 64)
    region[..., 10:20, 30:40] = 1  # 100 pixels
    sr = torch.zeros(1, 3, 64, 64)
    sr[..., 10:20, 30:40] = 1.0  # error 1 inside
    sr[..., 40:, :] = 5.0  # large error outside: ignored
    assert model.forward_loss_sr(target, sr, region).item() == pytest.approx(3 * 100 / (3 * 64 * 64))


def test_sr_head_final_relu_only_in_reference_mode():
    torch.manual_seed(0)
    pred = -torch.ones(1, 16, 192)  # a negative (normalised) reconstruction
    default = ECAMP(tiny_cfg()).forward_sr(pred)
    reference = ECAMP(tiny_cfg(sr_final_relu=True)).forward_sr(pred)
    assert default.shape == (1, 3, 64, 64)
    assert default.min() < 0 and reference.min() >= 0


def test_forward_total_is_the_weighted_sum_and_gradients_reach_every_part(model):
    torch.manual_seed(1)
    imgs, imgs_hr = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64)
    ids = torch.randint(5, 50, (2, 16))
    attention = torch.ones(2, 16, dtype=torch.long)
    attention[1, 10:] = 0
    out = model(imgs, imgs_hr, torch.ones(2, 1, 64, 64), ids, attention, lambda logits: logits.logsumexp(-1).mean(),
                {"sr": 0.5})
    parts = out.losses
    assert out.loss.item() == pytest.approx((parts["mim"] + 0.5 * parts["sr"] + parts["mlm"]).item(), rel=1e-6)
    assert out.mlm_logits.shape == (2, 16, 50) and out.cross_attention.shape == (2, 2, 16, 4)
    model.zero_grad()
    out.loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    assert not model.encoder.pos_embed.requires_grad  # fixed sin-cos


def test_cross_attention_map_covers_every_patch(model):
    model.train()  # the map is taken without dropout whatever the mode
    ids = torch.randint(5, 50, (1, 16))
    attn = model.cross_attention_map(torch.randn(1, 3, 32, 32), ids, torch.ones(1, 16, dtype=torch.long))
    assert attn.shape == (1, 2, 16, 4, 4)
    assert torch.allclose(attn.sum((-1, -2)), torch.ones(1, 2, 16), atol=1e-5)  # probabilities over patches
    assert model.training


def test_sincos_pos_embed_has_zero_cls_row_and_distinct_positions():
    emb = sincos_pos_embed_2d(16, 4)
    assert emb.shape == (17, 16) and torch.equal(emb[0], torch.zeros(16))
    # position (row 0, col 0): sin 0 = 0 and cos 0 = 1 in both halves
    assert torch.equal(emb[1], torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 4 + [1.0] * 4))
    assert torch.unique(emb[1:], dim=0).shape[0] == 16
