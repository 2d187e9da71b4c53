"""Shared run-time helpers for the OpenMMLab tasks: devices, seeding, trusted checkpoints, and Runners.

- :func:`resolve_device` — a ``torch.device`` from ``"cpu"``/``"cuda"``/``"cuda:1"``, with a clear error when
  CUDA is asked for but missing.
- :func:`seed_everything` — Python, numpy and torch seeded through mmengine's ``set_random_seed``.
- :func:`reproducible_kernels` — dense training on CPU runs with :data:`DENSE_CPU_THREADS` intra-op threads
  whatever the machine (on CUDA: cuDNN's deterministic algorithms, no autotuning), because CPU convolutions
  and matrix products sum in an order that depends on the thread count (measured here: 5 AdamW steps of a
  small conv net give other weights with 1, 2 and 4 threads), and a dense head with early stopping and
  arg-max masks turns those last-bit differences into other Dice.
- :func:`trusted_runner_checkpoints` / :func:`load_runner_checkpoint` — mmengine 0.10.7 calls ``torch.load``
  without ``weights_only`` and torch 2.13 defaults to ``weights_only=True``, so checkpoints the Runner writes
  itself (pickled ``MessageHub`` buffers, numpy scalars) fail to load (``docs/openmmlab.md``). These helpers
  allow full unpickling **only for files our own Runner wrote**; backbone weights always go through
  ecamp-bench's strict, ``weights_only`` loader.
- :func:`build_runner` — an mmengine ``Runner`` from a Python dict (instances allowed for model, loaders,
  optimiser wrapper and evaluators) in a work dir, with a unique experiment name, quiet logging, no
  checkpoint files, and a default scope that is set only while the Runner is built and run
  (:func:`scoped`), so segmentation and detection runs in one process do not leak scopes into each other.
"""

from __future__ import annotations

import functools
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ecamp_bench.errors import ConfigError

_NO_WEIGHTS_ONLY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device`` for ``device``; asking for CUDA on a machine without it is a ConfigError."""
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but CUDA is not available in this torch build")
    return resolved


DENSE_CPU_THREADS = 2  # the fixed intra-op thread count of dense training and prediction on CPU


def reproducible_kernels(run: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a protocol body ``run(ctx, ...)``: on a CPU device it runs with :data:`DENSE_CPU_THREADS` torch
    threads, so its results do not depend on the machine's core count or ``OMP_NUM_THREADS`` (on one CPU
    instruction set; other kernels, e.g. AVX-512 against AVX2, may still round differently); on CUDA with cuDNN's
    deterministic algorithms and without its autotuner. The previous settings are restored afterwards."""

    @functools.wraps(run)
    def wrapped(ctx, *args, **kwargs):
        cudnn = torch.backends.cudnn
        before = torch.get_num_threads(), cudnn.deterministic, cudnn.benchmark
        if torch.device(ctx.device).type == "cpu":
            torch.set_num_threads(DENSE_CPU_THREADS)
        else:
            cudnn.deterministic, cudnn.benchmark = True, False
        try:
            return run(ctx, *args, **kwargs)
        finally:
            torch.set_num_threads(before[0])
            cudnn.deterministic, cudnn.benchmark = before[1], before[2]

    return wrapped


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, numpy and torch (mmengine's ``set_random_seed``), optionally with deterministic kernels."""
    from mmengine.runner import set_random_seed

    set_random_seed(int(seed), deterministic=deterministic)


@contextmanager
def trusted_runner_checkpoints() -> Iterator[None]:
    """Inside this block ``torch.load`` unpickles fully (for checkpoints our own Runner wrote, never for downloads)."""
    previous = os.environ.get(_NO_WEIGHTS_ONLY)
    os.environ[_NO_WEIGHTS_ONLY] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_NO_WEIGHTS_ONLY, None)
        else:
            os.environ[_NO_WEIGHTS_ONLY] = previous


def load_runner_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by our own mmengine Runner (trusted; full unpickling)."""
    return torch.load(Path(path), map_location=map_location, weights_only=False)


@contextmanager
def scoped(scope: str) -> Iterator[None]:
    """Make ``scope`` (``"mmseg"``, ``"mmdet"``) mmengine's default scope for this block only, with its modules
    registered."""
    import importlib

    from mmengine.registry import DefaultScope

    importlib.import_module(f"{scope}.utils").register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        yield


# Warnings the OpenMMLab packages raise about their own internals while we build their models: nothing a user of
# ecamp-bench can act on, repeated once per run (``build_loss``: 18 times in the demo). (message regex, category, why)
KNOWN_OPENMMLAB_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (r"``build_loss`` would be deprecated soon", UserWarning, "mmseg 1.2.2's BaseDecodeHead builds its losses so"),
    (r"For binary segmentation, we suggest using", UserWarning, "mmseg's advice on 2-class heads; ours are chosen"),
    (r"Default ``avg_non_ignore`` is False", UserWarning, "mmseg's CrossEntropyLoss announcing its own default"),
)


@contextmanager
def known_openmmlab_warnings_ignored() -> Iterator[None]:
    """Inside this block only, :data:`KNOWN_OPENMMLAB_WARNINGS` are not shown; every other warning is."""
    with warnings.catch_warnings():
        for message, category, _why in KNOWN_OPENMMLAB_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


QUIET_HOOKS: dict[str, Any] = {
    # we keep the best weights in memory (seg_train.KeepBestStateHook, det_train); no files, no torch.load
    "checkpoint": None,
    "logger": {"type": "LoggerHook", "interval": 10**9, "log_metric_by_epoch": False},
}


def _device_runner_class():
    """mmengine's ``Runner`` that puts a single-process model on the device the run asked for."""
    from mmengine.model import is_model_wrapper, revert_sync_batchnorm
    from mmengine.runner import Runner

    class DeviceRunner(Runner):
        """``Runner(..., device=torch.device)``: a single-process model goes to ``device``.

        mmengine's own ``wrap_model`` moves every model to its process-wide default device (CUDA whenever a
        GPU is visible, and then the *current* CUDA device), so ``--device cpu`` on a GPU machine would train on
        the GPU and ``--device cuda:1`` on ``cuda:0``. Under DDP mmengine's wrapper is kept: the process group
        was opened with ``torch.cuda.set_device(LOCAL_RANK)``, which is where mmengine puts the model.
        """

        def __init__(self, *args: Any, device: torch.device | None = None, **kwargs: Any) -> None:
            self._run_device = device  # read by wrap_model, which Runner.__init__ calls
            super().__init__(*args, **kwargs)

        def wrap_model(self, model_wrapper_cfg, model):
            """The model on the run's device (single process); mmengine's wrapping otherwise."""
            if self.distributed or self._run_device is None or is_model_wrapper(model):
                return super().wrap_model(model_wrapper_cfg, model)
            return revert_sync_batchnorm(model.to(self._run_device))

    return DeviceRunner


def build_runner(cfg: dict[str, Any], work_dir: Path, scope: str, device: torch.device | None = None):
    """An mmengine ``Runner`` from ``cfg`` (``Runner`` keyword arguments) in ``work_dir`` with ``scope``.

    Defaults added unless ``cfg`` sets them: a unique ``experiment_name``, ``log_level="WARNING"``,
    :data:`QUIET_HOOKS` (no checkpoint files), and ``default_scope=scope``. ``device``: where a single-process
    model trains (model, data batches through the model's data preprocessor, and losses); ``None`` leaves it
    to mmengine. Build and run it inside ``with scoped(scope):``.
    """
    if "work_dir" in cfg:
        raise ConfigError("build_runner: pass work_dir as an argument, not in cfg")
    kwargs = dict(cfg)
    kwargs.setdefault("experiment_name", f"ecamp-bench-{uuid.uuid4().hex[:12]}")
    kwargs.setdefault("log_level", "WARNING")
    kwargs["default_hooks"] = {**QUIET_HOOKS, **(kwargs.get("default_hooks") or {})}
    kwargs.setdefault("default_scope", scope)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return _device_runner_class()(work_dir=str(work_dir), device=device, **kwargs)


def progress_hook(phase: Any):
    """An mmengine hook that reports every training iteration to ``phase`` (an
    :class:`ecamp_bench.progress.Phase`, or any ``advance(n=1)`` callable): the total is the train loop's
    ``max_iters`` (an upper bound when early stopping ends training sooner)."""
    from mmengine.hooks import Hook

    class ProgressHook(Hook):
        """Training iterations → ``phase`` (done/total); validation runs are covered by its heartbeat lines."""

        priority = "VERY_LOW"

        def before_train(self, runner) -> None:
            """Tell the phase how many iterations training has at most."""
            if hasattr(phase, "update"):
                phase.update(done=runner.iter, total=runner.max_iters)

        def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
            """One more iteration done."""
            if hasattr(phase, "update"):
                phase.update(done=runner.iter + 1)
            else:
                phase(1)

    return ProgressHook()


__all__ = [
    "DENSE_CPU_THREADS", "QUIET_HOOKS", "build_runner", "load_runner_checkpoint", "progress_hook",
    "reproducible_kernels", "resolve_device", "scoped", "seed_everything",
    "trusted_runner_checkpoints",
]
