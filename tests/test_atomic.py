"""The one atomic-write helper: a crash before the rename leaves the old file and no temp file behind."""

from __future__ import annotations

import numpy as np
import pytest

from ecamp_bench import atomic


def test_text_bytes_json_and_writer_callbacks(tmp_path):
    assert atomic.atomic_write_text(tmp_path / "a" / "t.txt", "é\n").read_text(encoding="utf-8") == "é\n"
    assert atomic.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert atomic.atomic_write_json(tmp_path / "c.json", {"x": [1]}).read_text() == '{\n  "x": [\n    1\n  ]\n}\n'
    with atomic.atomic_path(tmp_path / "d.npz", suffix=".npz") as tmp:
        np.savez(tmp, a=np.arange(3))  # np.savez keeps a name that already ends with .npz
    with np.load(tmp_path / "d.npz") as data:
        assert data["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b.bin", "c.json", "d.npz"]


def test_failure_keeps_the_previous_file_and_removes_the_temp(tmp_path, monkeypatch):
    path = atomic.atomic_write_text(tmp_path / "f.txt", "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        atomic.atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("umask", [0o002, 0o022])
def test_every_atomic_writer_follows_the_umask(tmp_path, umask):
    import os

    import torch

    from ecamp_bench.evaluation.context import Predictions
    from ecamp_bench.evaluation.predictions import save_predictions
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.pretrain.checkpointing import save_checkpoint

    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        written = [
            atomic.atomic_write_json(tmp_path / "record.json", {"a": 1}),
            save_predictions(Predictions(("a",), np.zeros((1, 1)), np.zeros((1, 1)), ("x",)), tmp_path / "p.npz"),
            save_backbone_file(tmp_path / "b.safetensors", {"w": torch.zeros(2)}, BackboneMeta(arch="x")),
            save_checkpoint(tmp_path / "run", 1, {"model": {"w": torch.zeros(2)}}),
        ]
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert plain.stat().st_mode & 0o777 == expected
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(expected) for p in written}


def test_a_full_disk_is_one_error_naming_the_folder(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from ecamp_bench.errors import DiskFullError, EcampBenchError

    target = tmp_path / "results" / "leaderboard.md"
    atomic.atomic_write_text(target, "old")

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DiskFullError) as caught:
        atomic.atomic_write_text(target, "new")
    assert isinstance(caught.value, EcampBenchError) and isinstance(caught.value, OSError)
    assert str(caught.value).startswith(f"{tmp_path / 'results'}: no space left on device")
    assert "\n" not in str(caught.value)
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["leaderboard.md"]


def test_a_full_disk_outside_the_atomic_writers_is_one_line_naming_the_folder(tmp_path, monkeypatch, capsys):
    import errno

    from ecamp_bench.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "metrics.jsonl"))

    monkeypatch.setattr("ecamp_bench.evaluation.runner.run_evaluation", full)
    assert main(["eval", "--task", "rsna-cls"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'run'}: no space left on device" in err


@pytest.mark.slow
def test_a_full_disk_during_eval_names_the_results_folder(synthetic_tiny, monkeypatch, capsys):
    import errno

    from _backbones import export_tiny_backbone

    from ecamp_bench.cli import main
    from ecamp_bench.paths import results_dir

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = export_tiny_backbone()
    monkeypatch.setattr(np, "savez_compressed", full)  # the predictions writer
    assert main(["eval", "--task", "rsna-cls", "--backbone", f"file:{path}", "--data-root", str(synthetic_tiny),
                 "--preset", "tiny", "--set", "eval.n_bootstrap=10"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("[")]  # less the progress lines
    assert len(lines) == 1 and "no space left on device" in lines[0] and "Traceback" not in err
    assert str(results_dir() / "runs") in err
