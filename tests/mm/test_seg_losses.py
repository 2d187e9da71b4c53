"""Our registered mmseg losses: ``LabelMapFocalLoss`` against torchvision's sigmoid focal loss on CPU with label
maps (the case mmseg 1.2.2's ``FocalLoss`` gets wrong on CPU), and the segmentation configs use it.

The reference never goes through mmseg's focal-loss code, so these tests hold whether or not a machine's
installed mmseg file was ever patched (older install scripts rewrote it).
"""

from __future__ import annotations

import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)

pytestmark = pytest.mark.mm

try:
    import mmcv.ops  # noqa: F401
    import mmseg  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"OpenMMLab stack not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

from torchvision.ops import sigmoid_focal_loss  # noqa: E402

IGNORE = 255


def build(**kwargs):
    from mmseg.registry import MODELS

    import ecamp_bench.mm.seg_losses  # noqa: F401

    return MODELS.build(dict(type="LabelMapFocalLoss", use_sigmoid=True, **kwargs))


def logits_and_labels(num_classes: int, seed: int = 0):
    """Logits [2, C, 5, 7] and labels [2, 5, 7] in 0..C (C: no class for C > 1) with 8 ignored pixels."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, num_classes, 5, 7, generator=generator) * 3
    labels = torch.randint(0, num_classes + 1, (2, 5, 7), generator=generator)
    labels.view(-1)[torch.randperm(70, generator=generator)[:8]] = IGNORE
    return logits, labels


def reference(logits, labels, alpha, gamma):
    """torchvision's per-element focal loss [N, C, H, W] against our own one-hot reading of the labels
    (C == 1: channel 0 is label 1; C > 1: channel c is label c), ignored pixels set to 0."""
    num_classes = logits.size(1)
    classes = torch.tensor([1]) if num_classes == 1 else torch.arange(num_classes)
    target = (labels.unsqueeze(1) == classes.view(1, -1, 1, 1)).float()  # [N, C, H, W]
    loss = sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="none")
    return loss * (labels != IGNORE).unsqueeze(1)


@pytest.mark.parametrize("num_classes", [1, 2, 3])
def test_label_map_focal_loss_matches_torchvision_on_cpu(num_classes):
    logits, labels = logits_and_labels(num_classes)
    loss = build(gamma=2.0, alpha=0.25, loss_weight=0.5)
    expected = 0.5 * reference(logits, labels, alpha=0.25, gamma=2.0)
    assert expected.abs().sum() > 0
    mean = loss(logits, labels, ignore_index=IGNORE)  # mmseg's mean: over all N·H·W·C elements, ignored ones 0
    torch.testing.assert_close(mean, expected.mean())
    torch.testing.assert_close(loss(logits, labels, ignore_index=IGNORE, reduction_override="sum"), expected.sum())
    elementwise = loss(logits, labels, ignore_index=IGNORE, reduction_override="none")
    assert elementwise.shape == logits.shape
    torch.testing.assert_close(elementwise, expected)


def test_ignored_pixels_get_no_gradient_and_a_pixel_weight_scales_the_loss():
    logits, labels = logits_and_labels(1, seed=1)
    logits.requires_grad_(True)
    loss = build(gamma=2.0, alpha=0.5)
    loss(logits, labels, ignore_index=IGNORE).backward()
    ignored = (labels == IGNORE).unsqueeze(1)
    assert torch.all(logits.grad[ignored] == 0) and torch.all(logits.grad[~ignored] != 0)

    weight = torch.rand(labels.numel(), generator=torch.Generator().manual_seed(2))  # [P], mmseg's flat order
    expected = reference(logits.detach(), labels, alpha=0.5, gamma=2.0) * weight.view(2, 1, 5, 7)
    torch.testing.assert_close(loss(logits.detach(), labels, weight=weight, reduction_override="sum"), expected.sum())
    with pytest.raises(ValueError, match=r"weight \(2, 5, 7\) is not per pixel"):
        loss(logits.detach(), labels, weight=torch.ones(2, 5, 7))


def test_one_hot_targets_are_left_to_mmseg():
    from mmseg.models.losses import FocalLoss

    logits, labels = logits_and_labels(2, seed=3)
    one_hot = torch.rand(logits.shape, generator=torch.Generator().manual_seed(4)).round()
    ours = build(gamma=2.0, alpha=0.25)
    assert isinstance(ours, FocalLoss)
    mmseg_loss = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25)
    torch.testing.assert_close(ours(logits, one_hot), mmseg_loss(logits, one_hot))


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_segmentation_configs_use_our_focal_loss(mode):
    from ecamp_bench.mm.seg_config import segmentor_cfg
    from ecamp_bench.specs import BackboneSpec
    from ecamp_bench_plugins.protocols.finetune_seg import TINY as FT_TINY, FinetuneSegParams
    from ecamp_bench_plugins.protocols.frozen_seg import TINY, FrozenSegParams

    params = FrozenSegParams(**TINY) if mode == "frozen" else FinetuneSegParams(**FT_TINY)
    spec = BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=64,
                        model_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8})
    cfg = segmentor_cfg(params, spec=spec, weights=None, mode=mode)
    heads = [cfg["decode_head"]] + ([cfg["auxiliary_head"]] if mode == "finetune" else [])
    types = [loss["type"] for head in heads for loss in head["loss_decode"]]
    assert types == ["LabelMapFocalLoss", "ForegroundDiceLoss"] * len(heads)
