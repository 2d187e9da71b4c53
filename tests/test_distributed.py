"""The DDP helpers: index sharding, per-rank batches, and gathering back in order across two gloo ranks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch.multiprocessing as mp

from ecamp_bench.distributed import DistInfo, gather_items, gather_rows, rank_batch_size, rank_slice, shard_indices
from ecamp_bench.errors import ConfigError


@pytest.mark.parametrize("n, world", [(0, 2), (1, 2), (7, 2), (10, 3), (5, 1)])
def test_shards_cover_every_index_exactly_once(n, world):
    shards = [shard_indices(n, DistInfo(rank, world)) for rank in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(n))


def test_rank_slice_splits_a_batch_and_keeps_every_rank_busy():
    assert [rank_slice([4, 5, 6, 7, 8], DistInfo(r, 2)) for r in range(2)] == [[4, 6, 8], [5, 7]]
    assert [rank_slice([9], DistInfo(r, 2)) for r in range(2)] == [[9], [9]]
    assert rank_slice([1, 2, 3], DistInfo()) == [1, 2, 3]


def test_rank_batch_size_splits_the_global_batch_or_says_why_not():
    assert rank_batch_size(16, DistInfo(0, 4)) == 4
    with pytest.raises(ConfigError, match="16 does not split evenly over 3"):
        rank_batch_size(16, DistInfo(0, 3))


def test_single_process_helpers_return_their_input():
    rows = np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(gather_rows(3, [0, 1, 2], rows, DistInfo()), rows)
    assert gather_items(2, [0, 1], ["a", "b"], DistInfo()) == ["a", "b"]


def _gather_worker(rank: int, world: int, init_file: str, results) -> None:
    import torch.distributed as dist

    from ecamp_bench.distributed import broadcast_object, current

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    info = current()
    n = 7
    mine = shard_indices(n, info)
    rows = np.array([[i, 10 * i] for i in mine], dtype=np.float32).reshape(-1, 2)
    gathered = gather_rows(n, mine, rows, info)
    items = gather_items(n, mine, [f"item{i}" for i in mine], info)
    decision = broadcast_object(f"from rank {rank}", info)
    results[rank] = (info.rank, info.world_size, gathered.tolist(), items, decision)
    dist.destroy_process_group()


def test_two_gloo_ranks_gather_rows_and_items_back_in_index_order(tmp_path):
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_gather_worker, args=(2, str(tmp_path / "init"), results), nprocs=2, join=True)
    expected_rows = [[i, 10 * i] for i in range(7)]
    for rank in range(2):
        got_rank, world, rows, items, decision = results[rank]
        assert (got_rank, world) == (rank, 2)
        assert rows == expected_rows
        assert items == [f"item{i}" for i in range(7)]
        assert decision == "from rank 0"


RUN_CLI = """
import atexit, sys
from ecamp_bench.cli import run
atexit.register(lambda: print("finalised", flush=True))
sys.argv = ["ecamp-bench", "list", {kind!r}]
run()
"""


@pytest.mark.parametrize("world_size, kind, code", [("2", "protocols", 0), ("2", "nosuch", 2), ("1", "nosuch", 2)])
def test_a_torchrun_worker_leaves_with_its_code_and_flushed_output_but_without_finalisation(world_size, kind, code):
    env = {**os.environ, "WORLD_SIZE": world_size}
    done = subprocess.run([sys.executable, "-c", RUN_CLI.format(kind=kind)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == code, done.stderr
    assert "linear" in done.stdout if code == 0 else "unknown list kind" in done.stderr
    assert ("finalised" in done.stdout) is (world_size == "1")  # os._exit skips atexit (and C++ static teardown)
