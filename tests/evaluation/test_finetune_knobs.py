"""The fine-tuning knobs of the authors' trainer: gradient clipping, drop-path, pooling, eval resize, patience, amp.

Each test fails when its knob is ignored; the defaults keep the protocol's earlier behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ecamp_bench  # noqa: F401
from ecamp_bench.errors import ConfigError
from ecamp_bench.evaluation.features import ImageDataset, to_tensor_center
from ecamp_bench.evaluation.finetune import Classifier, Precision, finetune_backbone, train_step
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.specs import BackboneSpec
from ecamp_bench_plugins.protocols import finetune
from ecamp_bench_plugins.protocols.finetune import FinetuneParams

TINY_VIT = BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=32,
                        model_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2})


def test_defaults_keep_the_earlier_protocol():
    p = FinetuneParams()
    assert (p.grad_clip, p.drop_path, p.pooling, p.eval_resize, p.patience, p.amp) == (
        None, 0.0, "backbone", "resize", None, "none")


class Recorder(torch.optim.SGD):
    """SGD that records the global gradient norm it is asked to step with."""

    def step(self, closure=None):
        self.seen = float(torch.norm(torch.stack([p.grad.norm() for g in self.param_groups for p in g["params"]])))
        return super().step(closure)


def _step(grad_clip):
    torch.manual_seed(0)
    model = nn.Linear(8, 2)
    optim = Recorder(model.parameters(), lr=0.1)
    x, y = 100 * torch.randn(16, 8), torch.ones(16, 2)
    loss = nn.functional.binary_cross_entropy_with_logits
    train_step(model, x, y, loss, optim, Precision.of("none", torch.device("cpu")), grad_clip)
    return optim.seen


def test_grad_clip_bounds_the_gradient_norm_the_optimiser_sees():
    assert _step(None) > 2.0  # large inputs: a large gradient
    assert _step(0.5) == pytest.approx(0.5, rel=1e-4)


@dataclass
class FakeContext:
    """The part of a RunContext :func:`finetune_backbone` uses."""

    backbone: BackboneSpec
    params: FinetuneParams

    def build_backbone(self):
        return build_backbone(self.backbone, None)


def test_drop_path_reaches_the_timm_encoder():
    with_rate = finetune_backbone(FakeContext(TINY_VIT, FinetuneParams(drop_path=0.1))).encoder.blocks
    plain = finetune_backbone(FakeContext(TINY_VIT, FinetuneParams())).encoder.blocks
    assert float(with_rate[-1].drop_path1.drop_prob) == pytest.approx(0.1)  # timm: the last block gets the full rate
    assert [type(b.drop_path1).__name__ for b in plain] == ["Identity", "Identity"]


def test_mean_pooling_averages_patch_tokens_before_a_fresh_layernorm():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    mean = Classifier(build_backbone(TINY_VIT, None), 1, 2e-5, pooling="mean").eval()
    encoder = mean.backbone.encoder
    assert isinstance(encoder.norm, nn.Identity) and isinstance(mean.fc_norm, nn.LayerNorm)
    tokens = encoder.forward_features(x)  # [B, 1 + 4, D], final norm dropped
    expected = nn.functional.layer_norm(tokens[:, 1:].mean(1), (32,), eps=1e-6)
    assert torch.allclose(mean.features(x), expected, atol=1e-6)
    cls = Classifier(build_backbone(TINY_VIT, None), 1, 2e-5, pooling="cls").eval()
    assert torch.allclose(cls.features(x), cls.backbone.encoder.forward_features(x)[:, 0])
    assert not torch.allclose(cls.features(x), mean.features(x))


def test_cls_pooling_of_a_cnn_is_refused_and_mean_is_its_own_average():
    spec = BackboneSpec(name="r", arch="resnet18", input_size=32)
    with pytest.raises(ConfigError, match="CNN"):
        Classifier(build_backbone(spec, None), 1, 2e-5, pooling="cls")
    assert Classifier(build_backbone(spec, None), 1, 2e-5, pooling="mean").pooling == "backbone"


def test_shortside_centercrop_keeps_the_aspect_and_takes_the_centre():
    image = np.zeros((40, 80), dtype=np.float32)
    image[:, 20:60] = 1.0  # the central square is white, the sides black
    out = to_tensor_center(image, 20)
    assert out.shape == (3, 20, 20) and float(out[:, :, 1:-1].min()) > 0.99  # (antialiasing blurs the edge columns)
    tall = to_tensor_center(image.T.copy(), 20)
    assert tall.shape == (3, 20, 20) and torch.allclose(tall, out.transpose(1, 2))


def test_eval_resize_reaches_the_dataset(tmp_path: Path):
    from PIL import Image

    path = tmp_path / "a.png"
    pixels = np.zeros((40, 80), dtype=np.uint8)
    pixels[:, 20:60] = 255
    Image.fromarray(pixels).save(path)

    class S:
        image_path = path

    squashed = ImageDataset([S()], 20, (0.0,) * 3, (1.0,) * 3)[0][0]
    cropped = ImageDataset([S()], 20, (0.0,) * 3, (1.0,) * 3, resize="shortside-centercrop")[0][0]
    assert float(squashed.mean()) < 0.6 and float(cropped.mean()) > 0.95


def test_precision_autocasts_and_scales():
    cpu = torch.device("cpu")
    with Precision.of("bf16", cpu).autocast():
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.bfloat16
    with Precision.of("none", cpu).autocast():
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.float32
    fp16 = Precision.of("fp16", cpu, loss_scale_init=2.0**20)
    assert fp16.dtype == torch.float16 and fp16.scaler.get_scale() == 2.0**20
    with pytest.raises(ConfigError, match="amp"):
        Precision.of("fp8", cpu)


def test_fp16_step_goes_through_the_scaler():
    torch.manual_seed(0)
    model = nn.Linear(8, 2)
    before = model.weight.detach().clone()
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    overflow = Precision.of("fp16", torch.device("cpu"), loss_scale_init=float("inf"))  # every step overflows
    train_step(model, torch.randn(4, 8), torch.ones(4, 2), nn.functional.binary_cross_entropy_with_logits, optim,
               overflow, 1.0)
    assert torch.equal(model.weight, before)  # the scaler skipped the step
    train_step(model, torch.randn(4, 8), torch.ones(4, 2), nn.functional.binary_cross_entropy_with_logits, optim,
               Precision.of("fp16", torch.device("cpu")), 1.0)
    assert not torch.equal(model.weight, before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_autocast_on_cuda():
    with Precision.of("fp16", torch.device("cuda")).autocast():
        assert (torch.randn(2, 2, device="cuda") @ torch.randn(2, 2, device="cuda")).dtype == torch.float16


def test_patience_stops_after_that_many_evaluations_without_improvement(synthetic_tiny, monkeypatch):
    from _backbones import export_tiny_backbone
    from ecamp_bench.cli import main

    export_tiny_backbone()
    calls = []
    monkeypatch.setattr(finetune, "_val_objective", lambda *a: calls.append(1) or (0.5, 0.0))  # never improves

    def run(patience):
        calls.clear()
        assert main(["eval", "--task", "rsna-cls", "--protocol", "finetune", "--fraction", "1", "--force",
                     "--data-root", str(synthetic_tiny), "--preset", "tiny", "--set", "protocol.steps=12",
                     "--set", "protocol.eval_every=1", "--set", f"protocol.patience={patience}",
                     "--set", "eval.n_bootstrap=0"]) == 0
        return len(calls)

    assert run("null") == 12 and run(3) == 4  # the first evaluation sets the best, three more do not improve it


def test_params_knobs_round_trip_through_the_config():
    from ecamp_bench.config import from_dict, to_dict

    p = replace(FinetuneParams(), grad_clip=1.0, drop_path=0.1, pooling="mean", eval_resize="shortside-centercrop",
                patience=20, amp="fp16", loss_scale_init=2.0**20)
    assert from_dict(FinetuneParams, to_dict(p)) == p
    with pytest.raises(ConfigError, match="pooling"):
        from_dict(FinetuneParams, {"pooling": "max"}, prefix="protocol")


def test_the_authors_knobs_together_run_end_to_end(synthetic_tiny):
    import json

    from _backbones import export_tiny_backbone
    from ecamp_bench.cli import main
    from ecamp_bench.paths import results_dir

    export_tiny_backbone()
    knobs = ["grad_clip=1.0", "drop_path=0.1", "pooling=mean", "eval_resize=shortside-centercrop", "patience=20",
             "amp=bf16"]
    args = [a for k in knobs for a in ("--set", f"protocol.{k}")]
    assert main(["eval", "--task", "rsna-cls", "--protocol", "finetune", "--fraction", "1", "--data-root",
                 str(synthetic_tiny), "--preset", "tiny", "--set", "protocol.steps=3", "--set", "eval.n_bootstrap=0",
                 *args]) == 0
    (path,) = sorted((results_dir() / "runs").rglob("*.json"))
    resolved = json.loads(path.read_text())["config"]["resolved"]["protocol"]
    assert resolved["pooling"] == "mean" and resolved["amp"] == "bf16" and resolved["grad_clip"] == 1.0
