"""mmengine's Runner trains where the run asked (not on CUDA just because a GPU is visible), and dense training
reports its iterations as progress lines where stderr is not a terminal."""

from __future__ import annotations

import re

import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)

pytestmark = pytest.mark.mm

try:
    import mmengine  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"mmengine not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

from _mmengine_tiny import Tiny  # noqa: E402
from ecamp_bench.mm.runtime import build_runner, progress_hook  # noqa: E402


@pytest.fixture(autouse=True)
def _default_scope_restored():
    """A Runner built with ``default_scope="mmengine"`` becomes mmengine's current scope for every later build in
    the process (mmseg's registries then miss our losses): put the scopes back after each test."""
    from mmengine.registry import DefaultScope

    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


class Recorder:
    """A stand-in progress phase: what the hook reported."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def update(self, done=None, total=None, status=None) -> None:
        self.calls.append({"done": done, "total": total})


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


def test_the_progress_hook_reports_every_training_iteration_with_the_total(tmp_path):
    from torch.utils.data import DataLoader

    phase = Recorder()
    data = DataLoader([torch.randn(2) for _ in range(8)], batch_size=2, collate_fn=lambda b: {"inputs": torch.stack(b)})
    runner = build_runner({"model": Tiny(), "train_dataloader": data, "train_cfg": {"by_epoch": False, "max_iters": 5},
                           "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
                           "custom_hooks": [progress_hook(phase)]}, tmp_path, "mmengine", device=torch.device("cpu"))
    runner.train()
    assert phase.calls[0] == {"done": 0, "total": 5}
    assert [c["done"] for c in phase.calls[1:]] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_segmentation_training_prints_its_iterations(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mmcv.ops", reason="mmcv's ops are not installed (scripts/install_openmmlab.sh)")
    pytest.importorskip("mmseg", reason="mmseg is not installed (scripts/install_openmmlab.sh)")
    from ecamp_bench.cli import main
    from ecamp_bench_plugins.layouts import siim
    from ecamp_bench.data.synth.generate import LAYOUTS

    siim.write_synthetic(tmp_path / "data" / LAYOUTS["siim-acr"][0], 40, 0, size=64, workers=1)
    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "0")
    assert main(["eval", "--task", "siim-seg", "--protocol", "frozen-seg", "--backbone", "random-init",
                 "--data-root", str(tmp_path / "data"), "--preset", "tiny", "--device", "cpu",
                 "--set", "backbone.arch=vit_tiny_patch16_224", "--set", "backbone.input_size=64",
                 "--set", "backbone.model_kwargs={depth: 1, embed_dim: 16, num_heads: 2, patch_size: 8}",
                 "--set", "protocol.epochs=0", "--set", "protocol.iters=4", "--set", "protocol.val_interval=2",
                 "--set", "eval.n_bootstrap=0"]) == 0
    err = capsys.readouterr().err
    done = re.findall(r"^\[siim-seg \S+ frozen-seg seed 0: frozen-seg training \(iterations\)\] "
                      r"(\d+)/(\d+) ", err, re.M)
    assert ("4", "4") in done and ("1", "4") in done, err[-3000:]
