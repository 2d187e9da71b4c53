"""The generator: determinism (CLI run equals the library run byte for byte), seeds, marker, default root."""

from __future__ import annotations

import hashlib
import importlib
import json

import numpy as np
import pytest

from ecamp_bench.cli import main
from ecamp_bench.data.synth import MARKER, ensure_synthetic_default, read_marker
from ecamp_bench.errors import UnknownNameError
from ecamp_bench_plugins.layouts import rsna


def tree_hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_synth_reproduces_the_fixture_byte_for_byte(synthetic_tiny, tmp_path, capsys):
    out = tmp_path / "again"
    assert main(["data", "synth", "--out", str(out), "--size", "tiny", "--seed", "0", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "rsna-pneumonia" in printed and "images in" in printed
    from ecamp_bench.data.synth.generate import LAYOUTS

    # the shared session fixture may also hold folders other tests prepared in it (an external-validation task's
    # layout): compare what the generator writes, its layouts and top-level files
    written = {subdir.split("/")[0] for subdir, _ in LAYOUTS.values()}
    first = {k: v for k, v in tree_hashes(synthetic_tiny).items() if "/" not in k or k.split("/")[0] in written}
    second = tree_hashes(out)
    assert len(first) > 250 and first == second
    assert json.loads((out / MARKER).read_text())["counts"] == read_marker(synthetic_tiny)["counts"]


def test_different_seed_gives_different_data(tmp_path):
    rsna.write_synthetic(tmp_path / "a", 6, seed=0, size=64)
    rsna.write_synthetic(tmp_path / "b", 6, seed=1, size=64)
    rsna.write_synthetic(tmp_path / "c", 6, seed=0, size=64)
    a, b, c = (tree_hashes(tmp_path / k) for k in "abc")
    assert a == c
    assert not set(a.items()) & set(b.items())


def test_parallel_workers_give_identical_bytes(tmp_path):
    rsna.write_synthetic(tmp_path / "one", 40, seed=3, size=48, workers=1)
    rsna.write_synthetic(tmp_path / "two", 40, seed=3, size=48, workers=2)
    assert tree_hashes(tmp_path / "one") == tree_hashes(tmp_path / "two")


def test_unknown_synthetic_size_lists_valid_ones(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--size", "tinyy"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown synthetic size 'tinyy'. Did you mean 'tiny'?" in err and "gpu-demo, medium, small, tiny" in err


def test_the_former_preset_option_still_picks_the_synthetic_size_with_one_warning(monkeypatch, tmp_path, capsys):
    synth = importlib.import_module("ecamp_bench.data.synth")
    sizes = []
    monkeypatch.setattr(synth, "generate", lambda out, size, **kwargs: sizes.append(size) or {})
    assert main(["data", "synth", "--out", str(tmp_path), "--preset", "tiny"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "deprecated" in line]
    assert sizes == ["tiny"] and warnings == ["warning: `data synth --preset` is deprecated, use --size (same values)"]
    assert main(["data", "synth", "--out", str(tmp_path), "--size", "demo"]) == 0 and sizes == ["tiny", "demo"]
    assert "deprecated" not in capsys.readouterr().err
    assert main(["data", "synth", "--out", str(tmp_path), "--preset", "tiny", "--size", "tiny"]) == 2
    assert "give --size only" in capsys.readouterr().err
    main(["data", "synth", "--help"])
    shown = capsys.readouterr().out
    assert "--size" in shown and "gpu-demo" in shown and "--preset" not in shown  # the former name is hidden


def test_ensure_synthetic_default_generates_once(monkeypatch, tmp_path):
    gen = importlib.import_module("ecamp_bench.data.synth.generate")  # the package attribute is the function

    monkeypatch.setenv("ECAMP_BENCH_DATA", str(tmp_path / "data"))
    calls = []

    def fake_generate(out, size, seed, progress=None):
        calls.append(out)
        (out / "x").write_text("data")
        marker = {"generator_version": gen.GENERATOR_VERSION, "layouts": gen.expected_layouts(size)}
        (out / MARKER).write_text(json.dumps(marker))
        return {}

    monkeypatch.setattr(gen, "generate", fake_generate)
    root = ensure_synthetic_default("tiny")
    assert root == tmp_path / "data" / "synthetic-tiny" and (root / "x").is_file()
    assert ensure_synthetic_default("tiny") == root and len(calls) == 1
    assert calls[0] != root  # generated elsewhere, then renamed into place
    assert [p.name for p in root.parent.iterdir()] == ["synthetic-tiny"]
    with pytest.raises(UnknownNameError):
        ensure_synthetic_default("huge")
    # a layout plugin that joins (or leaves) the catalog makes the tree stale: it is generated again
    monkeypatch.setattr(gen, "expected_layouts", lambda name: {"vindr-cxr": "vindr-cxr/1.0.0"})
    assert ensure_synthetic_default("tiny") == root and len(calls) == 2


def test_crash_leaves_no_complete_looking_tree(monkeypatch, tmp_path):
    gen = importlib.import_module("ecamp_bench.data.synth.generate")  # the package attribute is the function

    monkeypatch.setenv("ECAMP_BENCH_DATA", str(tmp_path / "data"))

    def crash(out, size, seed, progress=None):
        (out / "half").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(gen, "generate", crash)
    with pytest.raises(RuntimeError):
        ensure_synthetic_default("tiny")
    assert not (tmp_path / "data" / "synthetic-tiny").exists()
    assert list((tmp_path / "data").iterdir()) == []


def test_images_are_not_blank_and_use_the_dynamic_range(synthetic_tiny):
    from ecamp_bench.data.images import load_image

    image = load_image(rsna.read(synthetic_tiny / "rsna-pneumonia-detection-challenge")[0].image_path)
    assert image.std() > 0.15 and image.min() < 0.1 and image.max() > 0.7
    assert np.isfinite(image).all()


def test_the_synthetic_default_size_follows_the_environment(monkeypatch, tmp_path):
    gen = importlib.import_module("ecamp_bench.data.synth.generate")

    monkeypatch.setenv("ECAMP_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ECAMP_BENCH_SYNTHETIC", "tiny")
    sizes = []

    def fake_generate(out, size, seed, progress=None):
        sizes.append(size)
        (out / MARKER).write_text(json.dumps({"generator_version": gen.GENERATOR_VERSION,
                                              "layouts": gen.expected_layouts(size)}))
        return {}

    monkeypatch.setattr(gen, "generate", fake_generate)
    assert ensure_synthetic_default() == tmp_path / "data" / "synthetic-tiny" and sizes == ["tiny"]
    monkeypatch.delenv("ECAMP_BENCH_SYNTHETIC")
    assert ensure_synthetic_default() == tmp_path / "data" / "synthetic-small" and sizes == ["tiny", "small"]


def test_chexpert_valid_share_sets_the_size_of_the_official_test_split(tmp_path):
    from ecamp_bench_plugins.layouts import chexpert

    def valid_rows(share, folder):
        chexpert.write_synthetic(folder, 60, 0, size=32, valid_share=share)
        return len((folder / "valid.csv").read_text().splitlines()) - 1

    assert valid_rows(0.0, tmp_path / "none") == 0
    assert valid_rows(0.5, tmp_path / "half") > valid_rows(0.12, tmp_path / "default")


def _two_cases(item):
    kind, index = item
    record = {"image_id": f"{kind}-{index}", "kind": "effusion"}
    return {"truth": [record, {**record, "image_id": f"{kind}-{index}-lateral"}] if kind == "study" else record}


def test_render_cases_writes_the_truth_of_images_and_of_studies_in_item_order(tmp_path):
    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.truth import read_truth

    rows = render_cases(_two_cases, [("study", 0), ("image", 1)], tmp_path, label="test")
    assert len(rows) == 2
    assert list(read_truth(tmp_path)) == ["study-0", "study-0-lateral", "image-1"]
