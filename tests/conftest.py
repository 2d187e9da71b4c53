"""Shared fixtures. Tests are hermetic: only ecamp-bench's own plugins load, and every default folder
(data, results, pretrained, caches) points into a temporary directory."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
# Tests run as 2 xdist workers on 2 cores: one math thread each (torch reads this when it starts),
# otherwise oversubscribed BLAS/OpenMP threads make small trainings 10-30x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_folders(tmp_path, monkeypatch):
    """Point results/, pretrained/ and caches at a per-test temporary folder and reset the catalog."""
    from ecamp_bench.plugins import reset_catalog

    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ECAMP_BENCH_PRETRAINED", str(tmp_path / "pretrained"))
    monkeypatch.setenv("ECAMP_BENCH_CACHE", str(tmp_path / "cache"))
    reset_catalog()
    yield
    reset_catalog()


@pytest.fixture(scope="session")
def synthetic_tiny(tmp_path_factory):
    """The ``tiny`` synthetic size (seed 0, all four layouts), generated once per test session; its root."""
    from ecamp_bench.data.synth import generate

    root = tmp_path_factory.mktemp("synthetic-tiny")
    generate(root, size="tiny", seed=0, workers=1)
    return root
