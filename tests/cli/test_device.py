"""The device asked for is honoured: a missing device fails at once, a record made elsewhere is reused only aloud."""

from __future__ import annotations

import json

import pytest
import torch

from _backbones import export_tiny_backbone
from ecamp_bench.cli import main
from ecamp_bench.distributed import check_device, device_name
from ecamp_bench.errors import ConfigError
from ecamp_bench.paths import results_dir


def _records() -> list:
    return sorted((results_dir() / "runs").rglob("*.json")) if (results_dir() / "runs").is_dir() else []


@pytest.fixture
def no_cuda(monkeypatch):
    """This process sees no CUDA, even on a GPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cuda_without_cuda_is_one_clear_error(no_cuda):
    with pytest.raises(ConfigError, match=r"^--device cuda: CUDA is not available here \(torch .*\); use --device cpu"):
        device_name("cuda")
    with pytest.raises(ConfigError, match="--device cuda:1: CUDA is not available"):
        check_device("cuda:1")
    assert device_name("auto") == "cpu" and device_name("cpu") == "cpu"


def test_a_cuda_index_beyond_the_visible_devices_and_a_bad_name_are_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device("cuda:0")
    with pytest.raises(ConfigError, match=r"--device cuda:3: only 1 CUDA device\(s\) are visible"):
        check_device("cuda:3")
    with pytest.raises(ConfigError, match="--device 'gpu0' is not a torch device"):
        check_device("gpu0")


@pytest.mark.slow
def test_eval_on_a_missing_device_fails_before_reading_a_record_and_reuse_elsewhere_is_said(
        synthetic_tiny, capsys, monkeypatch):
    export_tiny_backbone()
    args = ["eval", "--task", "rsna-cls", "--data-root", str(synthetic_tiny), "--preset", "tiny",
            "--set", "eval.n_bootstrap=0"]
    assert main([*args, "--device", "cpu"]) == 0
    (path,) = _records()
    before = path.read_bytes()
    capsys.readouterr()

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*args, "--device", "cuda"]) == 2  # a CPU record exists for this key: still an error, not "skipped"
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "error: --device cuda: CUDA is not available here" in err
    assert _records() == [path] and path.read_bytes() == before

    record = json.loads(before)
    record["env"]["device"] = "cuda:0"  # as if the record had been made on a GPU
    path.write_text(json.dumps(record))
    assert main([*args, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "reusing the record made on cuda:0 (this run asked for cpu); use --force to rerun it on cpu" in out
    assert "skipped, already done" not in out and json.loads(path.read_text())["env"]["device"] == "cuda:0"
    assert main([*args, "--device", "cpu", "--force"]) == 0
    assert json.loads(path.read_text())["env"]["device"] == "cpu"
    assert main([*args, "--device", "cpu"]) == 0
    assert "skipped, already done" in capsys.readouterr().out  # same device: the plain skip line


def test_a_local_sweep_on_a_missing_device_fails_at_once(no_cuda, capsys):
    assert main(["sweep", "--tasks", "rsna-cls", "--device", "cuda", "--backbones", "random-init"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: CUDA is not available here" in err and err.count("\n") == 1
    assert _records() == []
