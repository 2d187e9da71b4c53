"""DDP under ``torchrun`` (NCCL on GPU, gloo on CPU): process-group setup, collectives and seeding.

Pre-training and every evaluation protocol use these helpers. A single process is rank 0 of 1, and then
every helper is a no-op that returns its input, so the code paths are the same with or without
``torchrun``. Evaluation shards work by index (:func:`shard_indices`: rank ``r`` of ``W`` takes ``r, r + W,
...``) and reassembles it on every rank (:func:`gather_rows`, :func:`gather_items`), so all ranks hold the
same predictions and take the same early-stopping decisions.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from ecamp_bench.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs, checkpoints and exports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA when available else CPU; ``cuda`` without a GPU is a :class:`ConfigError`."""
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    check_device(preference)
    return torch.device("cuda", local_rank)


def check_device(name: str) -> None:
    """Raise a one-line :class:`ConfigError` unless the device ``name`` can be used here.

    ``cuda``/``cuda:N`` need ``torch.cuda.is_available()`` (and N below the visible device count), ``mps``
    needs ``torch.backends.mps.is_available()``; ``cpu`` and ``auto`` always pass. The message names the torch
    build, so "a CPU-only torch" and "no driver" read differently.
    """
    if name in ("auto", "cpu"):
        return
    try:
        parsed = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device {name!r} is not a torch device ({exc}); "
                          "use auto, cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, {build}); "
                              "use --device cpu, or install a CUDA torch (README: On a GPU server; docs/gpu.md)")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(f"--device {name}: only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1})")
    elif parsed.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"--device {name}: MPS is not available here; use --device cpu")


def device_name(preference: str) -> str:
    """The device string a run records and uses: ``auto`` → ``cuda`` when CUDA is available, else ``cpu``;
    any other value (``cpu``, ``cuda``, ``cuda:1``, ``mps``) as given, after :func:`check_device` (so a device
    that is not there fails at once, before any record is read or written)."""
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device(preference)
    return preference


def init_distributed(device_preference: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1); otherwise a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank), device


def current() -> DistInfo:
    """This process's place in the process group that is already initialised (rank 0 of 1 when none is)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def shutdown_distributed() -> None:
    """Leave the process group if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_torchrun_worker(code: int) -> NoReturn:
    """End a ``torchrun`` worker with ``code`` without the interpreter's finalisation.

    With the gloo backend, a worker occasionally aborts *after* all its Python code has run (SIGABRT,
    "terminate called without an active exception"; faulthandler shows no Python frame): a C++ thread of
    PyTorch's distributed runtime is still joinable while static objects are destroyed at exit. It happened in
    about 1 of 40 two-rank CPU runs here, even after ``destroy_process_group``, and torchrun then reports the
    whole job as failed although every record was written. By the time this is called the work is done and
    the process group is left, so the worker flushes its output and logging and leaves with ``os._exit``.
    """
    import logging

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing left to flush
            pass
    logging.shutdown()
    os._exit(code)


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op for a single process)."""
    if info.distributed:
        dist.barrier()


def all_gather_objects(obj: object, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order (``[obj]`` for a single process)."""
    if not info.distributed:
        return [obj]
    gathered: list = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: T, info: DistInfo) -> T:
    """Rank 0's ``obj`` on every rank (``obj`` itself for a single process)."""
    if not info.distributed:
        return obj
    box = [obj if info.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def main_first(work: Callable[[], T], info: DistInfo) -> T:
    """Run ``work`` on rank 0, then on the other ranks (which then find what rank 0 created, e.g. a dataset)."""
    if info.is_main:
        result = work()
        barrier(info)
        return result
    barrier(info)
    return work()


def shard_indices(n: int, info: DistInfo) -> list[int]:
    """This rank's share of ``range(n)``: ``rank, rank + world_size, ...`` (all of it for a single process)."""
    return list(range(info.rank, n, info.world_size))


def gather_rows(n: int, local_index: Sequence[int], local_rows: np.ndarray, info: DistInfo) -> np.ndarray:
    """Every rank's ``local_rows`` (row ``k`` belongs to item ``local_index[k]``) assembled into ``[n, ...]``
    on every rank."""
    local_rows = np.asarray(local_rows)
    if not info.distributed:
        return local_rows
    parts = all_gather_objects((list(local_index), local_rows), info)
    out = np.zeros((n, *local_rows.shape[1:]), dtype=local_rows.dtype)
    for index, rows in parts:
        if len(index):
            out[np.asarray(index)] = rows
    return out


def gather_items(n: int, local_index: Sequence[int], local_items: Sequence[T], info: DistInfo) -> list[T]:
    """Like :func:`gather_rows` for a list of arbitrary (picklable) items: item ``i`` at position ``i`` on
    every rank."""
    if not info.distributed:
        return list(local_items)
    out: list = [None] * n
    for index, items in all_gather_objects((list(local_index), list(local_items)), info):
        for i, item in zip(index, items):
            out[i] = item
    return out


def rank_batch_size(batch_size: int, info: DistInfo) -> int:
    """The per-rank batch of a global ``batch_size`` split evenly over the ranks (ConfigError when it does not
    divide)."""
    if batch_size % info.world_size:
        raise ConfigError(
            f"batch size {batch_size} does not split evenly over {info.world_size} processes; "
            f"choose a multiple of {info.world_size} (e.g. --set protocol.batch_size=...)"
        )
    return batch_size // info.world_size


def rank_slice(chunk: Sequence[int], info: DistInfo) -> list[int]:
    """This rank's part of one global batch ``chunk``; a chunk shorter than the world is repeated so no rank is idle."""
    items = list(chunk)
    if info.distributed and len(items) < info.world_size:
        items = [items[i % len(items)] for i in range(info.world_size)]
    return items[info.rank :: info.world_size]


def wrap_ddp(model: torch.nn.Module, device: torch.device, info: DistInfo) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` when several processes take part (``model`` itself otherwise).

    ``find_unused_parameters`` is on: a :class:`~ecamp_bench.models.backbone.Backbone` carries parts that a
    given head does not use (the feature pyramid under a classifier, the final norm under dense heads).
    """
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed determined by the integers ``parts`` (e.g. seed, rank, step, micro-step)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


DETERMINISTIC_ENV = "ECAMP_BENCH_DETERMINISTIC"


def reproducible_kernels(device: torch.device) -> bool:
    """Make an evaluation on a CUDA ``device`` repeatable; returns whether every kernel is forced deterministic.

    Always on CUDA: cuDNN uses deterministic convolution algorithms and no benchmark-driven choice
    (``cudnn.deterministic = True``, ``cudnn.benchmark = False``), so the same seed gives the same training
    on the same GPU and software, up to the kernels below. ``$ECAMP_BENCH_DETERMINISTIC=1`` also calls
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` (a warning names each op that has no
    deterministic CUDA kernel, e.g. index/scatter-add or bilinear-upsampling backward, whose atomic adds make
    last-digit differences between reruns) and sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which cuBLAS reads
    when CUDA starts: set the variable before the process starts to cover the first run too. CPU runs are
    deterministic already and are left alone.
    """
    if device.type != "cuda":
        return False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    if os.environ.get(DETERMINISTIC_ENV, "").strip() not in ("1", "true", "yes"):
        return False
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return True


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
