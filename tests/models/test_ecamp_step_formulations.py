"""The faster formulations of the ECAMP step compute what the previous step computed (CPU, fp32, same seeds).

The previous step is rebuilt here from the model's own modules the way it used to run: timm's patch-embedding
convolution over every patch followed by the gather of ``random_masking``, and the SR head's library
convolutions. The new step embeds only the kept patches with one matrix product and (inside a compiled region)
writes the SR convolutions as shifted multiply-adds.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ecamp_bench.models.ecamp import ECAMP, ECAMPModelConfig, SRHead, conv3x3_taps
from ecamp_bench.models.sr_region import region_mask

TINY = dict(arch="vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
            decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2, sr_channels=3, vocab_size=64,
            text_hidden=32, text_layers=1, text_heads=2, text_ffn=64, text_max_len=16)


def tiny_model(**kw) -> ECAMP:
    torch.manual_seed(0)
    return ECAMP(ECAMPModelConfig(**{**TINY, **kw}))


def inputs(n: int = 3, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    imgs_hr = torch.randn(n, 3, 64, 64, generator=gen)
    imgs = F.interpolate(imgs_hr, size=(32, 32), mode="bicubic", align_corners=False, antialias=True)
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0], [8.0, 4.0, 60.0, 50.0], [0.0, 16.0, 40.0, 64.0]])[:n]
    ids = torch.randint(1, 64, (n, 12), generator=gen)
    attention = torch.ones(n, 12, dtype=torch.long)
    attention[0, 9:] = 0
    return imgs, imgs_hr, region_mask(boxes, 64), ids, attention


def previous_step(model: ECAMP, imgs, imgs_hr, region, ids, attention) -> dict[str, torch.Tensor]:
    """The step as it was computed before: conv patch embedding of all patches, then masking; conv SR head."""
    enc = model.encoder
    x = enc.patch_embed(imgs) + enc.pos_embed[:, 1:, :]
    x, mask, ids_restore = ECAMP.random_masking(x, model.cfg.mask_ratio)
    cls = (enc.cls_token + enc.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
    latent = enc.norm(enc.blocks(enc.norm_pre(torch.cat([cls, x], dim=1))))
    pred = model.forward_decoder(latent, ids_restore)
    head = model.sr_head
    up = F.interpolate(model.unpatchify(pred), scale_factor=head.scale, mode="bilinear", align_corners=False)
    sr_image = head.conv2(F.relu(head.conv1(up))) + up
    logits, _ = model.forward_text(ids, attention, latent)
    return {"mim": model.forward_loss_mim(imgs, pred, mask), "sr": model.forward_loss_sr(imgs_hr, sr_image, region),
            "mlm": logits.float().logsumexp(-1).mean()}


def new_step(model: ECAMP, imgs, imgs_hr, region, ids, attention) -> dict[str, torch.Tensor]:
    out = model(imgs, imgs_hr, region, ids, attention, lambda lg: lg.float().logsumexp(-1).mean())
    return out.losses


def losses_and_grads(step, model, batch, seed: int = 5):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # MAE masking noise and dropout
    losses = step(model, *batch)
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


def assert_same_step(a, b, rtol=1e-4, atol=1e-6):
    (losses_a, grads_a), (losses_b, grads_b) = a, b
    for name in losses_a:
        torch.testing.assert_close(losses_a[name], losses_b[name], rtol=rtol, atol=atol, msg=name)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=rtol, atol=atol, msg=name)


def test_conv3x3_taps_is_the_convolution():
    gen = torch.Generator().manual_seed(0)
    for c, o in ((3, 3), (3, 8), (8, 3)):
        x, w = torch.randn(2, c, 11, 9, generator=gen), torch.randn(o, c, 3, 3, generator=gen)
        b = torch.randn(o, generator=gen)
        torch.testing.assert_close(conv3x3_taps(x, w, b), F.conv2d(x, w, b, padding=1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(conv3x3_taps(x, w, None), F.conv2d(x, w, None, padding=1), rtol=1e-5, atol=1e-5)


def test_sr_head_taps_and_convolution_agree_with_their_gradients():
    torch.manual_seed(0)
    head = SRHead(2, 3, final_relu=True)
    img = torch.randn(2, 3, 10, 10, requires_grad=True)
    grads = []
    for taps in (False, True):
        img.grad = None
        head.zero_grad()
        out = head(img, taps=taps)
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        grads.append((out.detach(), img.grad.clone(), head.conv1.weight.grad.clone(), head.conv2.bias.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_embedding_only_the_kept_patches_equals_embedding_all_then_masking():
    model = tiny_model()
    imgs = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(9)
    old, old_mask, old_restore = ECAMP.random_masking(model.encoder.patch_embed(imgs) + model.encoder.pos_embed[:, 1:],
                                                      0.75)
    torch.manual_seed(9)
    ids_keep, mask, restore = ECAMP.masking_indices(3, model.num_patches, 0.75)
    torch.testing.assert_close(model.embed_visible_patches(imgs, ids_keep), old, rtol=1e-5, atol=1e-6)
    assert torch.equal(mask, old_mask) and torch.equal(restore, old_restore)


def test_new_step_equals_the_previous_step_losses_and_gradients():
    model = tiny_model().eval()  # eval: dropout off
    batch = inputs()
    assert_same_step(losses_and_grads(previous_step, model, batch), losses_and_grads(new_step, model, batch))


def test_the_step_in_train_mode_is_unchanged_under_the_same_seed():
    model = tiny_model().train()  # dropout on: the same seed must draw the same masks in both formulations
    batch = inputs()
    assert_same_step(losses_and_grads(previous_step, model, batch), losses_and_grads(new_step, model, batch))


@pytest.mark.slow
def test_the_compiled_sr_branch_computes_the_eager_step():
    """The SR branch (its 3x3 convolutions as taps) compiled on the CPU; every region compiled is checked on the
    GPU below (compiling each block with inductor on a 2-core CPU takes minutes)."""
    model = tiny_model().eval()
    batch = inputs()
    eager = losses_and_grads(new_step, model, batch)
    model.compile_regions(blocks=False)
    assert_same_step(eager, losses_and_grads(new_step, model, batch), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_the_new_step_equals_the_previous_one_and_compiles(monkeypatch):
    """CUDA: channels-last SR convolutions and the kept-patch GEMM against the previous step (fp32, TF32 off),
    then the compiled regions against eager."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    device = torch.device("cuda")
    model = tiny_model().to(device).eval()
    batch = [t.to(device) for t in inputs()]
    eager = losses_and_grads(new_step, model, batch)
    assert_same_step(losses_and_grads(previous_step, model, batch), eager, rtol=1e-4, atol=1e-5)
    model.compile_regions()
    assert_same_step(eager, losses_and_grads(new_step, model, batch), rtol=1e-3, atol=1e-4)
