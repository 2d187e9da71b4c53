"""Every task family's smallest cell on ``--device cuda``: run where CUDA exists, skipped on a CPU machine.

One test per family: classification (``linear``: features computed on the GPU, cached on the CPU; ``finetune``),
segmentation (``frozen-seg``, mmseg through mmengine's Runner) and detection (``frozen-det``, mmdet with mmcv's
CUDA NMS, and mmengine's Runner on the device asked for), pre-training (a dry run: one step on the GPU),
plus mmcv's CUDA ops themselves and a two-GPU NCCL
run of ``eval`` under torchrun where two GPUs are visible. ``benchmarks/gpu_check.sh`` runs them (``-m gpu``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from _backbones import export_tiny_backbone, finetune_eval_args
from ecamp_bench.cli import main
from ecamp_bench.paths import cache_dir, results_dir

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

SMALL_VIT = [  # a 64-px, 8-px-patch ViT: the sizes the OpenMMLab tests use on the CPU
    "--set", "backbone.arch=vit_tiny_patch16_224", "--set", "backbone.input_size=64",
    "--set", "backbone.model_kwargs={depth: 1, embed_dim: 16, num_heads: 2, patch_size: 8}",
]


def _needs_openmmlab(*modules: str) -> None:
    for module in ("mmcv.ops", *modules):
        pytest.importorskip(module, reason=f"{module} is not installed (scripts/install_openmmlab.sh)")


def _record() -> dict:
    (path,) = sorted((results_dir() / "runs").rglob("*.json"))
    return json.loads(path.read_text())


def _eval(*args: str) -> dict:
    assert main(["eval", *args, "--device", "cuda", "--set", "eval.n_bootstrap=20"]) == 0
    record = _record()
    assert record["status"] == "ok" and record["env"]["device"] == "cuda" and record["env"]["cuda"], record["env"]
    assert record["env"]["gpu"] == torch.cuda.get_device_name(0)
    return record


def test_linear_cell_extracts_features_on_the_gpu_and_caches_them_on_the_cpu(synthetic_tiny):
    export_tiny_backbone()
    record = _eval("--task", "rsna-cls", "--data-root", str(synthetic_tiny), "--preset", "tiny")
    assert record["metrics"][0]["value"] is not None
    (entry,) = (cache_dir() / "features").glob("*.npz")
    with np.load(entry) as cached:
        assert cached["features"].dtype == np.float32 and np.isfinite(cached["features"]).all()


def test_gpu_features_match_cpu_features(synthetic_tiny):
    from ecamp_bench.evaluation.features import extract_features
    from ecamp_bench.models.backbone import build_backbone
    from ecamp_bench.plugins import get_catalog
    from ecamp_bench.models.backbone_refs import resolve_backbone
    from ecamp_bench.data.roots import find_layout_root

    path = export_tiny_backbone()
    cat = get_catalog()
    spec, weights = resolve_backbone(cat, f"file:{path}", None)
    layout = cat.layout("rsna-pneumonia")
    table = layout.read(find_layout_root(layout, synthetic_tiny))
    backbone = build_backbone(spec, weights)
    cpu = extract_features(backbone, table, device=torch.device("cpu"), batch_size=8)
    gpu = extract_features(backbone.to("cuda"), table, device=torch.device("cuda"), batch_size=8)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)


def test_finetune_cell_trains_on_the_gpu(synthetic_tiny):
    export_tiny_backbone()
    record = _eval("--task", "rsna-cls", "--protocol", "finetune", "--data-root", str(synthetic_tiny), "--preset",
                   "tiny", "--set", "protocol.steps=6", "--set", "protocol.eval_every=3")
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark  # set for evaluations on CUDA
    assert record["metrics"][0]["name"] == "auc"


def test_mmcv_ops_have_cuda_kernels():
    _needs_openmmlab()
    from mmcv.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32, device="cuda")
    scores = torch.tensor([0.9, 0.8, 0.7], device="cuda")
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.device.type == "cuda" and keep.tolist() == [0, 2]


def test_mmengine_runner_trains_on_the_device_asked_for(tmp_path):
    pytest.importorskip("mmengine", reason="mmengine is not installed (scripts/install_openmmlab.sh)")
    from _mmengine_tiny import Tiny
    from ecamp_bench.mm.runtime import build_runner

    for device in (torch.device("cpu"), torch.device("cuda", torch.cuda.device_count() - 1)):
        runner = build_runner({"model": Tiny()}, tmp_path / device.type, "mmengine", device=device)
        assert next(runner.model.parameters()).device == device


def test_frozen_seg_cell_on_the_gpu(synthetic_tiny):
    _needs_openmmlab("mmseg")
    record = _eval("--task", "siim-seg", "--data-root", str(synthetic_tiny), "--preset", "tiny", "--backbone",
                   "random-init", *SMALL_VIT, "--set", "protocol.iters=4", "--set", "protocol.val_interval=2")
    assert record["metrics"][0]["name"] == "dice_per_image"


def test_frozen_det_cell_on_the_gpu(synthetic_tiny):
    _needs_openmmlab("mmdet")
    record = _eval("--task", "rsna-det", "--data-root", str(synthetic_tiny), "--preset", "tiny", "--backbone",
                   "random-init", *SMALL_VIT, "--set", "protocol.image_size=64", "--set", "protocol.max_epochs=1")
    assert [m["name"] for m in record["metrics"]][0] == "map_40_75"


def test_pretraining_runs_a_step_on_the_gpu(capsys):
    assert main(["pretrain", "--config", "cpu-small", "--dry-run", "--device", "cuda"]) == 0
    assert "one step on 2 images: loss" in capsys.readouterr().out


@pytest.mark.ddp
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL DDP needs two GPUs")
def test_eval_under_torchrun_uses_nccl_on_two_gpus(synthetic_tiny, tmp_path):
    export_tiny_backbone()
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
         "ecamp_bench.cli", *finetune_eval_args(synthetic_tiny), "--device", "cuda"],
        env={**os.environ}, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = _record()
    assert record["env"]["world_size"] == 2 and record["env"]["device"].startswith("cuda")
