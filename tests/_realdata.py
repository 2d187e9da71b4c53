"""Where the real files of the official releases live for tests (``../shared/realdata`` next to the checkout).

Tests that need them call :func:`realdata` and are skipped, with the path in the reason, when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REALDATA = Path(os.environ.get("ECAMP_BENCH_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"))


def realdata(*parts: str) -> Path:
    """``REALDATA/parts...``; skips the calling test when it does not exist."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found: {path}")
    return path
