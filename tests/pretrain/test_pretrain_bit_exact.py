"""Same config, seed and data → byte-identical exported weights, in two fresh processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from _pretrain_tiny import tiny_config

from ecamp_bench.config import to_dict


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_two_fresh_pretraining_runs_export_identical_files(synthetic_tiny, tmp_path):
    config = to_dict(tiny_config())
    config["optim"].update(epochs=1, batch_size=8, accum_steps=1)
    config["data"]["contexts"] = str(tmp_path / "contexts.jsonl")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "ECAMP_BENCH_PRETRAINED": str(tmp_path / "pretrained"),
               "ECAMP_BENCH_RESULTS": str(tmp_path / "results"), "ECAMP_BENCH_CACHE": str(tmp_path / "cache")}
        done = subprocess.run([sys.executable, "-m", "ecamp_bench.cli", "pretrain", "--config",
                               str(tmp_path / "tiny.yaml"), "--data-root", str(synthetic_tiny),
                               "--out", str(tmp_path / "run")],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        (exported,) = (tmp_path / "pretrained").glob("*.safetensors")
        outputs.append({"weights": (exported.name, _sha(exported)),
                        "tokenizer": _sha(tmp_path / "run" / "tokenizer.json"),
                        "contexts": _sha(tmp_path / "contexts.jsonl")})
        for produced in ("run", "pretrained", "results", "cache", "contexts.jsonl"):  # the next run starts fresh
            target = tmp_path / produced
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    assert outputs[0] == outputs[1]


def test_backbone_file_bytes_do_not_depend_on_metadata_hash_order(tmp_path):
    import torch
    from safetensors import safe_open

    from ecamp_bench.models.checkpoints import BackboneMeta, read_backbone_meta, save_backbone_file

    state = {"pos_embed": torch.arange(6.0).reshape(1, 2, 3), "cls_token": torch.ones(1, 1, 3)}
    blobs = set()
    for i in range(4):
        meta = BackboneMeta(arch="vit_tiny_patch16_224", model_kwargs={"depth": 1}, img_size=32, patch_size=8,
                            embed_dim=3, depth=1, mean=(0.5,) * 3, std=(0.2,) * 3, origin="test",
                            config_sha256="0" * 64)
        path = save_backbone_file(tmp_path / f"b{i}.safetensors", state, meta, stamp_time=False)
        blobs.add(path.read_bytes())
    assert len(blobs) == 1
    assert read_backbone_meta(path).origin == "test"
    with safe_open(str(path), "pt") as fh:
        assert torch.equal(fh.get_tensor("pos_embed"), state["pos_embed"])
