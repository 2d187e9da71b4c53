"""SIGNAL on synthetic SIIM and RSNA (boxes as masks): a backbone trained on the synthetic train split beats random-init
on dice_dataset (SIIM at 10 %, RSNA at 20 %); for rsna-seg one trained on shuffled masks stays well below it.

A tiny ViT (patch 8, 3 blocks, 64 px) is trained supervised for a few hundred steps to predict the
pneumothorax mask pixel by pixel (a 1×1 linear map of the last block's tokens to each patch's 8×8 pixels,
BCE + Dice) on the *train* split only, exported as a backbone file, and evaluated with ``frozen-seg`` (tiny
preset, more epochs, Dice loss only) against ``random-init`` of the same architecture through the real runner.
Measured (400 images, 28 at 10%, 80 test): trained 0.49 vs random-init 0.22 dice_dataset on SIIM; on RSNA boxes as
masks (400 patients) trained 0.34, random-init 0.11, trained on shuffled masks 0.09 at 10 %, which became 0.16 /
0.08 / 0.10 when only the dense trainer's random draws changed (one training run), hence 20 % for RSNA. With the
protocol's focal term (weight >= 1) the decoder on ~8 positive training images predicts nothing for either backbone;
a per-patch-fraction pretext instead of the pixel one gave no reliable gain over random-init.
On generator version 3 the trees are written at the signal tests' conspicuity and the backbone trains 800 steps
(measured on RSNA: trained 0.45, shuffled 0.21, random-init below 0.12). A backbone trained on shuffled masks
still learns where boxes usually lie, which helps any decoder, so the failing variant is held to the trained one:
without the image-mask link it must lose at least 0.1 of the trained backbone's Dice.
"""

from __future__ import annotations

import pytest
import torch

import ecamp_bench  # noqa: F401
from _supervised import ARCH, CONSPICUITY, export_signal_backbone, train_pixel_supervised

pytestmark = [pytest.mark.mm, pytest.mark.slow]

try:
    import mmcv.ops  # noqa: F401
    import mmseg  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"OpenMMLab stack not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

SIZE = 64
STEPS = 800  # supervised steps of the pixel-level backbone (300 learned too little on generator version 3)
LAYOUT = {"siim-seg": "siim-acr", "rsna-seg": "rsna-pneumonia"}
# rsna-seg at 20 %: at 10 % (~32 images) its one training run swung from 0.34 to 0.16 dice_dataset when only the
# random draws of the dense trainer changed (fixed CPU threads, per-sample flip seeds): training noise, not signal
# (measured: 0.19 vs random-init 0.05 and shuffled masks 0.06 at 20 %); its floor is lower than siim-seg's.
FRACTION = {"siim-seg": 0.1, "rsna-seg": 0.2}
FLOOR = {"siim-seg": 0.3, "rsna-seg": 0.15}  # dice_dataset the trained backbone must reach
SHUFFLED_VARIANT = {"rsna-seg"}  # the failing variant (masks of other images), run for the newer task only (time)


@pytest.mark.parametrize("task", ["siim-seg", "rsna-seg"])
def test_trained_backbone_beats_random_init_on_dice_dataset(tmp_path, task):
    from ecamp_bench.data.synth.generate import LAYOUTS
    from ecamp_bench.evaluation.runner import RunRequest, prepare_run, run_evaluation
    from ecamp_bench.paths import pretrained_dir
    from ecamp_bench.plugins import get_catalog

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path / "data"
        subdir, writer = LAYOUTS[LAYOUT[task]]
        writer.write(root / subdir, 400, 0, size=SIZE, workers=1, conspicuity=CONSPICUITY)
        catalog = get_catalog()
        plan = prepare_run(RunRequest(task=task, fraction=1.0, backbone="random-init", data_root=root), catalog)
        train = plan.split.train
        assert not set(train.ids) & set(plan.split.test.ids)
        vit = train_pixel_supervised(task, train, STEPS, size=SIZE)
        export_signal_backbone(vit, "sig", "seg signal test", size=SIZE)
        backbones = {"file": "file:" + str(pretrained_dir() / "sig.safetensors"), "random-init": "random-init"}
        if task in SHUFFLED_VARIANT:
            vit = train_pixel_supervised(task, train, STEPS, size=SIZE, shuffle_masks=True)
            backbones["shuffled"] = "file:" + str(export_signal_backbone(vit, "shuffled", "seg signal test (shuffled)",
                                                                         size=SIZE))
        dice = {}
        for name, backbone in backbones.items():
            request = RunRequest(task=task, fraction=FRACTION[task], backbone=backbone, data_root=root, preset="tiny",
                                 overrides=["eval.n_bootstrap=100", "protocol.epochs=25", "protocol.patience=25",
                                           "protocol.lr=5e-3", "protocol.focal_weight=0.0"])
            record = run_evaluation(request, catalog).record
            assert record.ok and record.backbone.arch == ARCH
            dice[name] = {m.name: m.value for m in record.metrics}
    finally:
        torch.set_num_threads(before)
    print(task, dice)
    assert (dice["file"]["dice_dataset"] or 0) > (dice["random-init"]["dice_dataset"] or 0) + 0.1, dice
    assert (dice["file"]["dice_dataset"] or 0) > FLOOR[task], dice
    if "shuffled" in dice:  # trained on masks of other images: well below the backbone that saw the right ones
        assert (dice["shuffled"]["dice_dataset"] or 0) < (dice["file"]["dice_dataset"] or 0) - 0.1, dice
