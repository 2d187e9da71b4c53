"""mmengine's Runner trains where the run asked (not on CUDA just because a GPU is visible), and dense training
reports its iterations as progress lines where stderr is not a terminal."""

from __future__ import annotations

import re

import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)

pytestmark = pytest.mark.mm

try:
    import mmcv.ops  # noqa: F401
    import mmseg  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"OpenMMLab stack not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

from mmengine.model import BaseModel  # noqa: E402

from ecamp_bench.mm.runtime import build_runner  # noqa: E402


class Tiny(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode="tensor"):
        return self.layer(inputs)


def test_the_runner_puts_the_model_on_the_run_device(tmp_path, monkeypatch):
    runner = build_runner({"model": Tiny()}, tmp_path / "a", "mmengine", device=torch.device("cpu"))
    assert next(runner.model.parameters()).device.type == "cpu"
    # mmengine on its own moves a model to its default device ("cuda" on a GPU machine): shown with a fake default
    import mmengine.device.utils as device_utils

    monkeypatch.setattr(device_utils, "DEVICE", "meta")
    runner = build_runner({"model": Tiny()}, tmp_path / "b", "mmengine", device=torch.device("cpu"))
    assert next(runner.model.parameters()).device.type == "cpu"
    runner = build_runner({"model": Tiny()}, tmp_path / "c", "mmengine")
    assert next(runner.model.parameters()).device.type == "meta"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_machine_the_runner_trains_on_the_device_asked_for(tmp_path):
    for device in (torch.device("cpu"), torch.device("cuda", torch.cuda.device_count() - 1)):
        runner = build_runner({"model": Tiny()}, tmp_path / device.type, "mmengine", device=device)
        assert next(runner.model.parameters()).device == device


@pytest.mark.slow
def test_segmentation_training_prints_its_iterations(tmp_path, capsys, monkeypatch):
    from ecamp_bench.cli import main
    from ecamp_bench.data.synth import siim
    from ecamp_bench.data.synth.generate import LAYOUTS

    siim.write(tmp_path / "data" / LAYOUTS["siim-acr"][0], 40, 0, size=64, workers=1)
    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "0")
    assert main(["eval", "--task", "siim-seg", "--protocol", "frozen-seg", "--backbone", "random-init",
                 "--data-root", str(tmp_path / "data"), "--preset", "tiny", "--device", "cpu",
                 "--set", "backbone.arch=vit_tiny_patch16_224", "--set", "backbone.input_size=64",
                 "--set", "backbone.model_kwargs={depth: 1, embed_dim: 16, num_heads: 2, patch_size: 8}",
                 "--set", "protocol.iters=4", "--set", "protocol.val_interval=2", "--set", "eval.n_bootstrap=0"]) == 0
    err = capsys.readouterr().err
    done = re.findall(r"^\[siim-seg \S+ frozen-seg seed 0: frozen-seg training \(iterations\)\] (\d+)/(\d+) ", err, re.M)
    assert ("4", "4") in done and ("1", "4") in done, err[-3000:]
