"""Split a sweep across independent workers (``--shard i/n``, e.g. SLURM array jobs).

Cells are dealt round-robin over the *sorted* cell list: shard ``i`` (0-based) gets cells ``i, i+n,
i+2n, ...``. Every worker computes the same sorted list from the same command line, so every cell is in
exactly one shard, shards differ in size by at most one, and a shard mixes tasks, backbones and seeds
(no shard gets all the slow cells). Workers need no coordination besides the shared results folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from ecamp_bench.errors import ConfigError

T = TypeVar("T")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"2/8"`` → ``(2, 8)`` (index 0-based, ``0 <= i < n``); ``None`` → ``(0, 1)`` (the whole grid)."""
    if text is None:
        return 0, 1
    match = _SHARD.match(str(text))
    if not match:
        raise ConfigError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4 (SLURM: $SLURM_ARRAY_TASK_ID/4)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text!r}: need N >= 1 and 0 <= I < N (I is 0-based)")
    return index, count


def shard_cells(cells: Sequence[T], index: int, count: int) -> list[T]:
    """The cells of shard ``index`` of ``count``: round-robin over ``sorted(cells)``."""
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: need N >= 1 and 0 <= I < N")
    return sorted(cells)[index::count]
