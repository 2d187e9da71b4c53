"""Order-preserving, optionally multi-process mapping of case renderers with progress callbacks.

Each worker renders and writes its own files and returns only small metadata rows, so nothing large crosses
process boundaries. BLAS threads are pinned to one per process: the arrays are small and oversubscribing a
few cores with BLAS threads is several times slower.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

Progress = Callable[[str, int, int], None]


def _limit_threads() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def default_workers() -> int:
    """Worker processes to use: ``$ECAMP_BENCH_SYNTH_WORKERS`` or the CPU count (at most 8)."""
    env = os.environ.get("ECAMP_BENCH_SYNTH_WORKERS")
    return max(1, int(env)) if env else max(1, min(8, os.cpu_count() or 1))


def map_cases(fn: Callable[[Any], dict], items: Sequence[Any], *, label: str, workers: int = 1,
              progress: Progress | None = None) -> list[dict]:
    """``[fn(item) for item in items]`` in order, over ``workers`` processes, reporting
    ``progress(label, done, total)``."""
    total = len(items)
    results: list[dict] = []
    if progress:
        progress(label, 0, total)
    if workers <= 1 or total < 32:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            for item in items:
                results.append(fn(item))
                if progress:
                    progress(label, len(results), total)
        return results
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_limit_threads) as pool:
        for row in pool.map(fn, items, chunksize=max(1, min(16, total // (workers * 8) or 1))):
            results.append(row)
            if progress:
                progress(label, len(results), total)
    return results


def render_cases(render: Callable[[Any], dict], items: Sequence[Any], root: Path, *, label: str, workers: int = 1,
                 progress: Progress | None = None) -> list[dict]:
    """Render every case (:func:`map_cases`) and write ``root``'s ground-truth file from the rows.

    Each row returned by ``render`` carries ``"truth"``: one truth record (an image) or a list of them (a study
    with several images); they are written in item order (:func:`~ecamp_bench.data.synth.truth.write_truth`).
    Returns the rows for the layout's own index files.
    """
    from ecamp_bench.data.synth.truth import write_truth

    rows = map_cases(render, items, label=label, workers=workers, progress=progress)
    write_truth(Path(root), [t for row in rows for t in (row["truth"] if isinstance(row["truth"], list)
                                                          else [row["truth"]])])
    return rows
