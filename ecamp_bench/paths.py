"""Where ecamp-bench reads and writes by default. Every location can be moved with an environment variable.

Defaults are relative to the current working directory (the project checkout), never absolute paths:

- ``ECAMP_BENCH_DATA``        default data home (``./data``); the synthetic default lives under it
- ``ECAMP_BENCH_SYNTHETIC``   the synthetic size used as the default data (``small``; ``make demo`` uses ``demo``)
- ``ECAMP_BENCH_RESULTS``     result records and leaderboards (``./results``)
- ``ECAMP_BENCH_PRETRAINED``  backbone weight files (``./pretrained``)
- ``ECAMP_BENCH_CACHE``       feature caches and other derived data (``./.cache/ecamp-bench``)
"""

from __future__ import annotations

import os
from pathlib import Path

SYNTHETIC_DEFAULT_SIZE = "small"


def _env_path(var: str, default: str) -> Path:
    return Path(os.environ.get(var, default)).expanduser()


def data_home() -> Path:
    """The folder that holds datasets by default (``$ECAMP_BENCH_DATA`` or ``./data``)."""
    return _env_path("ECAMP_BENCH_DATA", "data")


def synthetic_default_size() -> str:
    """The synthetic size used when no data root is given (``$ECAMP_BENCH_SYNTHETIC`` or ``small``)."""
    return os.environ.get("ECAMP_BENCH_SYNTHETIC", "").strip() or SYNTHETIC_DEFAULT_SIZE


def synthetic_root(size: str | None = None) -> Path:
    """Where the synthetic data set of synthetic size ``size`` (default: :func:`synthetic_default_size`) lives."""
    return data_home() / f"synthetic-{size or synthetic_default_size()}"


def results_dir() -> Path:
    """The results folder (``$ECAMP_BENCH_RESULTS`` or ``./results``)."""
    return _env_path("ECAMP_BENCH_RESULTS", "results")


def pretrained_dir() -> Path:
    """The folder of backbone weight files (``$ECAMP_BENCH_PRETRAINED`` or ``./pretrained``)."""
    return _env_path("ECAMP_BENCH_PRETRAINED", "pretrained")


def cache_dir() -> Path:
    """The folder for derived caches such as extracted features (``$ECAMP_BENCH_CACHE``)."""
    return _env_path("ECAMP_BENCH_CACHE", ".cache/ecamp-bench")
