"""SIGNAL on synthetic SIIM: a backbone trained on the synthetic train split beats random-init on dice_dataset at 10%.

A tiny ViT (patch 8, 3 blocks, 64 px) is trained supervised for a few hundred steps to predict the
pneumothorax mask pixel by pixel (a 1×1 linear map of the last block's tokens to each patch's 8×8 pixels,
BCE + Dice) on the *train* split only, exported as a backbone file, and evaluated with ``frozen-seg`` (tiny
preset, more epochs, Dice loss only) against ``random-init`` of the same architecture through the real runner.
Measured (400 images, 28 at 10%, 80 test): trained 0.49 vs random-init 0.22 dice_dataset. With the protocol's
focal term (weight >= 1) the decoder on ~8 positive training images predicts nothing for either backbone;
a per-patch-fraction pretext instead of the pixel one gave no reliable gain over random-init.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ecamp_bench  # noqa: F401

pytestmark = [pytest.mark.mm, pytest.mark.slow]

try:
    import mmcv.ops  # noqa: F401
    import mmseg  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"OpenMMLab stack not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

KWARGS = {"depth": 3, "embed_dim": 64, "num_heads": 2, "patch_size": 8}
SIZE = 64
ARCH = "vit_tiny_patch16_224"


def train_pixel_supervised(train_table, steps: int = 300) -> nn.Module:
    """A tiny ViT trained to predict the masks of ``train_table`` pixel by pixel (BCE + Dice); returns the ViT."""
    from ecamp_bench.mm.seg_data import load_pair
    from ecamp_bench.models.backbone import build_backbone
    from ecamp_bench.specs import BackboneSpec

    torch.manual_seed(0)
    backbone = build_backbone(BackboneSpec(name="sig", arch=ARCH, input_size=SIZE, model_kwargs=KWARGS), None)
    from ecamp_bench.plugins import get_catalog
    from ecamp_bench_plugins.tasks.siim_seg import IMPLEMENTATION

    task = get_catalog().task("siim-seg")
    pairs = [load_pair(s, SIZE, lambda sample, shape: IMPLEMENTATION.mask(task, sample, shape)) for s in train_table]
    images = torch.stack([torch.as_tensor(i, dtype=torch.float32) / 255 for i, _ in pairs])[:, None].repeat(1, 3, 1, 1)
    masks = torch.stack([torch.as_tensor(m, dtype=torch.float32) for _, m in pairs])[:, None]  # [N, 1, S, S]
    head = nn.Sequential(nn.Conv2d(64, 64, 1), nn.PixelShuffle(8))  # tokens [B, 64, S/8, S/8] -> [B, 1, S, S]
    optim = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = torch.randint(0, len(images), (32,), generator=generator)
        tokens = backbone.encoder.forward_intermediates(backbone.normalize(images[batch]), indices=[2],
                                                    intermediates_only=True, output_fmt="NCHW")[0]  # fmt: skip
        prob, truth = head(tokens).sigmoid(), masks[batch]  # [B, 1, S, S] each
        dice = 1 - (2 * (prob * truth).sum() + 1) / (prob.sum() + truth.sum() + 1)
        loss = nn.functional.binary_cross_entropy(prob, truth) + dice
        optim.zero_grad()
        loss.backward()
        optim.step()
    return backbone.encoder


def test_trained_backbone_beats_random_init_on_dice_dataset(tmp_path):
    from ecamp_bench.data.synth import siim
    from ecamp_bench.data.synth.generate import LAYOUTS
    from ecamp_bench.evaluation.runner import RunRequest, prepare_run, run_evaluation
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.paths import pretrained_dir
    from ecamp_bench.plugins import get_catalog

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path / "data"
        siim.write(root / LAYOUTS["siim-acr"][0], 400, 0, size=SIZE, workers=1)
        catalog = get_catalog()
        plan = prepare_run(RunRequest(task="siim-seg", fraction=1.0, backbone="random-init", data_root=root), catalog)
        train = plan.split.train
        assert not set(train.ids) & set(plan.split.test.ids)
        vit = train_pixel_supervised(train)
        meta = BackboneMeta(arch=ARCH, model_kwargs={**KWARGS, "img_size": SIZE}, img_size=SIZE, patch_size=8,
                            embed_dim=64, depth=3, origin="seg signal test (supervised)")  # fmt: skip
        save_backbone_file(pretrained_dir() / "sig.safetensors", vit.state_dict(), meta)
        dice = {}
        for backbone in ("file:" + str(pretrained_dir() / "sig.safetensors"), "random-init"):
            request = RunRequest(task="siim-seg", fraction=0.1, backbone=backbone, data_root=root, preset="tiny",
                                 overrides=["eval.n_bootstrap=100", "protocol.epochs=25", "protocol.patience=25",
                                           "protocol.lr=5e-3", "protocol.focal_weight=0.0"])  # fmt: skip
            record = run_evaluation(request, catalog).record.to_json()
            assert record["status"] == "ok" and record["backbone"]["arch"] == ARCH
            dice[backbone.split(":")[0]] = {m["name"]: m["value"] for m in record["metrics"]}
    finally:
        torch.set_num_threads(before)
    assert (dice["file"]["dice_dataset"] or 0) > (dice["random-init"]["dice_dataset"] or 0) + 0.1, dice
    assert (dice["file"]["dice_dataset"] or 0) > 0.3, dice
