"""Test-set predictions saved next to each result record (``<run_key>.predictions.npz``) for paired tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ecamp_bench.errors import DataError
from ecamp_bench.evaluation.context import Predictions


def save_predictions(predictions: Predictions, path: Path) -> Path:
    """Write ``ids``, ``targets``, ``scores`` and ``label_names`` to ``path`` (npz, atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(
            tmp,
            ids=np.array(predictions.ids, dtype=str),
            targets=np.asarray(predictions.targets, dtype=np.float32),
            scores=np.asarray(predictions.scores, dtype=np.float32),
            label_names=np.array(predictions.label_names, dtype=str),
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_predictions(path: Path) -> Predictions:
    """Read predictions written by :func:`save_predictions`; a bad file raises DataError naming it."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return Predictions(
                ids=tuple(str(i) for i in data["ids"]),
                targets=data["targets"],
                scores=data["scores"],
                label_names=tuple(str(n) for n in data["label_names"]),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"unreadable predictions file ({exc})", path=path) from None
