"""Dense cells under faults: a NaN model never gets an ok record; the same cell gives byte-identical predictions
in fresh processes, whatever the thread count."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)

pytestmark = [pytest.mark.mm, pytest.mark.slow]

try:
    import mmcv.ops  # noqa: F401
    import mmseg  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"OpenMMLab stack not installed ({error}); run scripts/install_openmmlab.sh", allow_module_level=True)

SIZE = 64
KWARGS = {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8}


def write_vit(path, *, nan: bool = False):
    """A 2-block ViT at 64 px (patch 8) as a backbone file; ``nan``: its first MLP's weights are NaN."""
    from ecamp_bench.models.backbone import create_encoder
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.specs import BackboneSpec

    torch.manual_seed(0)
    vit = create_encoder(BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=SIZE, model_kwargs=KWARGS))
    if nan:
        with torch.no_grad():
            for param in vit.blocks[0].mlp.parameters():
                param.fill_(float("nan"))
    meta = BackboneMeta(arch="vit_tiny_patch16_224", model_kwargs={**KWARGS, "img_size": SIZE}, img_size=SIZE,
                        patch_size=8, embed_dim=32, depth=2, origin="test")
    save_backbone_file(path, vit.state_dict(), meta, stamp_time=False)
    return path


def test_a_nan_backbone_on_siim_seg_fails_and_writes_no_ok_record(tmp_path, synthetic_tiny, capsys):
    from ecamp_bench.cli import main
    from ecamp_bench.paths import results_dir

    path = write_vit(tmp_path / "nan-vit.safetensors", nan=True)
    rc = main(["eval", "--task", "siim-seg", "--fraction", "1", "--backbone", f"file:{path}", "--data-root",
               str(synthetic_tiny), "--preset", "tiny", "--set", "protocol.epochs=1", "--set", "eval.n_bootstrap=10"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "backbone 'file:nan-vit' on task 'siim-seg'" in err and "values are not finite" in err, err
    records = [json.loads(p.read_text()) for p in (results_dir() / "runs").rglob("*.json")]
    assert records and all(r["status"] != "ok" for r in records)
    assert not list((results_dir() / "runs").rglob("*.predictions.npz"))


def _eval_in_fresh_process(tmp_path, name: str, weights, data_root, threads: int) -> str:
    env = {**os.environ, "ECAMP_BENCH_RESULTS": str(tmp_path / name), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "PYTHONHASHSEED": "random"}
    cmd = [sys.executable, "-m", "ecamp_bench.cli", "eval", "--task", "siim-seg", "--fraction", "1", "--preset", "tiny",
           "--backbone", f"file:{weights}", "--data-root", str(data_root), "--set", "eval.n_bootstrap=10"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (npz,) = (tmp_path / name / "runs").rglob("*.predictions.npz")
    with np.load(npz) as data:
        return hashlib.sha256(data["scores"].tobytes() + data["ids"].tobytes()).hexdigest()


def test_the_same_siim_seg_cell_gives_identical_predictions_in_fresh_processes_and_thread_counts(
        tmp_path, synthetic_tiny):
    weights = write_vit(tmp_path / "vit.safetensors")
    first = _eval_in_fresh_process(tmp_path, "a", weights, synthetic_tiny, threads=1)
    again = _eval_in_fresh_process(tmp_path, "b", weights, synthetic_tiny, threads=1)
    assert first == again
    assert _eval_in_fresh_process(tmp_path, "c", weights, synthetic_tiny, threads=2) == first
