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
