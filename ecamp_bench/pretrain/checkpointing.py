"""Training checkpoints: written atomically every N steps, the latest one found again by ``--resume``.

A checkpoint holds everything needed to continue bit-exactly: model, optimizer, scheduler and grad-scaler
states, the step (which fixes the sampler position: epoch and sample offset), and the RNG states of python,
numpy and torch. Files are ``ckpt-<step:08d>.pt`` in ``<run>/checkpoints``; older ones beyond ``keep`` are removed.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import torch

from ecamp_bench.errors import CheckpointError

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """``<run_dir>/checkpoints/ckpt-<step>.pt``."""
    return Path(run_dir) / "checkpoints" / f"ckpt-{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint in the run, oldest first (temp files are ignored)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint with the highest step, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def rng_states() -> dict:
    """The global RNG states of python, numpy and torch (and CUDA when present)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "gauss": float(gauss)}  # tensors + scalars: weights_only-safe
    states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    """Inverse of :func:`rng_states`."""
    random.setstate(states["python"])
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(run_dir: Path, step: int, state: dict, keep: int = 2) -> Path:
    """Write ``state`` (plus ``step`` and RNG states) atomically and prune to the newest ``keep`` files."""
    path = checkpoint_path(run_dir, step)
    from ecamp_bench.atomic import atomic_path

    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({**state, "step": step, "rng": rng_states()}, tmp)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only``: no code runs on load)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (a corrupt or foreign file)
        raise CheckpointError(f"{path}: cannot read the training checkpoint ({exc})") from exc
