"""siim-seg through mmseg: the registered backbone in an mmseg config, strict weight loading, frozen means
frozen, predictions files with masks, and the eval CLI end to end (tiny sizes: 64 px, a 2-block ViT)."""

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

from ecamp_bench.errors import CheckpointError  # noqa: E402
from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file  # noqa: E402
from ecamp_bench.specs import BackboneSpec  # noqa: E402

KWARGS = {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8}
SIZE = 64
ARCH = "vit_tiny_patch16_224"


def tiny_spec(**kwargs) -> BackboneSpec:
    return BackboneSpec(name="tiny-seg", arch=ARCH, input_size=SIZE, model_kwargs={**KWARGS, **kwargs})


def write_weights(path, seed: int = 0, **kwargs):
    """A weight file of a tiny ViT (random weights with a fixed seed); returns (path, its state dict)."""
    from ecamp_bench.models.backbone import create_encoder

    torch.manual_seed(seed)
    vit = create_encoder(tiny_spec(**kwargs))
    model_kwargs = {**KWARGS, **kwargs}
    meta = BackboneMeta(arch=ARCH, model_kwargs={**model_kwargs, "img_size": SIZE}, img_size=SIZE, patch_size=8,
                        embed_dim=model_kwargs["embed_dim"], depth=model_kwargs["depth"], origin="test")
    save_backbone_file(path, vit.state_dict(), meta)
    return path, {k: v.clone() for k, v in vit.state_dict().items()}


@pytest.fixture(scope="module")
def siim_root(tmp_path_factory):
    """A SIIM-only synthetic tree: 60 images at 64 px."""
    from ecamp_bench_plugins.layouts import siim
    from ecamp_bench.data.synth.generate import LAYOUTS

    root = tmp_path_factory.mktemp("siim")
    siim.write_synthetic(root / LAYOUTS["siim-acr"][0], 60, 0, size=SIZE, workers=1)
    return root


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_registered_backbone_builds_in_mmseg_config_and_loads_weights(tmp_path, mode):
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    import ecamp_bench.mm.seg_losses  # noqa: F401
    from ecamp_bench.mm.runtime import scoped
    from ecamp_bench.mm.seg_config import segmentor_cfg
    from ecamp_bench_plugins.protocols.finetune_seg import TINY as FT_TINY, FinetuneSegParams
    from ecamp_bench_plugins.protocols.frozen_seg import TINY, FrozenSegParams

    params = FrozenSegParams(**TINY) if mode == "frozen" else FinetuneSegParams(**FT_TINY)
    path, state = write_weights(tmp_path / "w.safetensors")
    cfg = segmentor_cfg(params, spec=tiny_spec(), weights=str(path), mode=mode)
    assert cfg["backbone"]["type"] == "EcampBenchBackbone"
    with scoped("mmseg"):
        model = MODELS.build(ConfigDict(cfg))
    vit = model.backbone.backbone.encoder
    assert all(torch.equal(vit.state_dict()[k], v) for k, v in state.items())
    batch = model.data_preprocessor({"inputs": [torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8)] * 2,
                                     "data_samples": None}, training=False)
    with torch.no_grad():
        logits = model.encode_decode(batch["inputs"], [dict(img_shape=(SIZE, SIZE))] * 2)
    assert logits.shape == (2, 1, SIZE, SIZE)

    wrong, _ = write_weights(tmp_path / "wrong.safetensors", depth=3)
    bad = segmentor_cfg(params, spec=tiny_spec(), weights=str(wrong), mode=mode)
    with scoped("mmseg"), pytest.raises(CheckpointError, match="blocks.2"):
        MODELS.build(ConfigDict(bad))


def test_frozen_seg_keeps_encoder_frozen_and_trains_the_head(tmp_path, siim_root, monkeypatch):
    from ecamp_bench.evaluation.predictions import load_predictions
    from ecamp_bench.evaluation.runner import RunRequest, run_evaluation
    from ecamp_bench.mm import seg_train
    from ecamp_bench.plugins import get_catalog

    built = {}
    original = seg_train.build_segmentor

    def capture(params, ctx, mode):
        model = original(params, ctx, mode)
        built["model"] = model
        built["head"] = {k: v.clone() for k, v in model.decode_head.state_dict().items()}
        return model

    monkeypatch.setattr(seg_train, "build_segmentor", capture)
    path, state = write_weights(tmp_path / "enc.safetensors", seed=3)
    request = RunRequest(task="siim-seg", fraction=0.5, backbone=f"file:{path}", data_root=siim_root, preset="tiny",
                         overrides=["eval.n_bootstrap=50", "protocol.epochs=2"])
    outcome = run_evaluation(request, get_catalog())
    record = outcome.record.to_json()
    assert record["status"] == "ok"
    names = [m["name"] for m in record["metrics"]]
    assert names == ["dice_per_image", "dice_dataset", "dice_positive"]
    assert record["primary_metric"] == "dice_per_image"

    model = built["model"]
    vit = model.backbone.backbone.encoder
    assert not vit.training  # frozen ViT kept in eval mode through training
    assert all(not p.requires_grad and p.grad is None for p in vit.parameters())
    assert all(torch.equal(vit.state_dict()[k], v) for k, v in state.items())
    head_after = model.decode_head.state_dict()
    assert any(not torch.equal(head_after[k], v) for k, v in built["head"].items() if v.is_floating_point())

    predictions = load_predictions(outcome.path.with_name(record["predictions_file"]))
    n_test = record["split"]["n_test"]
    assert predictions.targets.shape == (n_test, SIZE, SIZE) and predictions.targets.dtype == "uint8"
    assert predictions.scores.shape == (n_test, SIZE, SIZE)
    assert set(predictions.targets.reshape(-1).tolist()) <= {0, 1}


def test_finetune_seg_cli_end_to_end(tmp_path, siim_root, capsys):
    from ecamp_bench.cli import main

    path, state = write_weights(tmp_path / "ft.safetensors")
    rc = main(["eval", "--task", "siim-seg", "--protocol", "finetune-seg", "--fraction", "0.5", "--backbone",
               f"file:{path}", "--data-root", str(siim_root), "--preset", "tiny", "--set", "protocol.iters=4",
               "--set", "protocol.val_interval=2", "--set", "eval.n_bootstrap=20"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "dice_per_image" in out
