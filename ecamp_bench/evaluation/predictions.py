"""Test-set predictions saved next to each result record (``<run_key>.predictions.npz``) for paired tests."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ecamp_bench.atomic import atomic_path
from ecamp_bench.errors import DataError
from ecamp_bench.evaluation.context import Predictions

EXTRA_PREFIX = "extra__"


class UnreadablePredictions(DataError):
    """A predictions file that exists but cannot be read (truncated, corrupt): reports stop on it, naming it."""


def _stored(array: np.ndarray) -> np.ndarray:
    """float32, except compact dtypes (uint8/bool/float16, e.g. segmentation masks ``[N, H, W]``), kept as they are."""
    array = np.asarray(array)
    return array if array.dtype in (np.uint8, np.bool_, np.float16) else array.astype(np.float32)


def save_predictions(predictions: Predictions, path: Path) -> Path:
    """Write ``ids``, ``targets``, ``scores``, ``label_names`` and ``extras`` (as ``extra__<name>``) to ``path``
    (npz, atomically)."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp,
            ids=np.array(predictions.ids, dtype=str),
            targets=_stored(predictions.targets),
            scores=_stored(predictions.scores),
            label_names=np.array(predictions.label_names, dtype=str),
            **{EXTRA_PREFIX + name: np.asarray(value) for name, value in predictions.extras.items()},
        )
    return path


def load_predictions(path: Path) -> Predictions:
    """Read predictions written by :func:`save_predictions`; a bad file (truncated, corrupt) raises
    :class:`UnreadablePredictions` naming it."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return Predictions(
                ids=tuple(str(i) for i in data["ids"]),
                targets=data["targets"],
                scores=data["scores"],
                label_names=tuple(str(n) for n in data["label_names"]),
                extras={k[len(EXTRA_PREFIX) :]: data[k] for k in data.files if k.startswith(EXTRA_PREFIX)},
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # truncated or corrupt
        raise UnreadablePredictions(f"unreadable predictions file ({type(exc).__name__}: {exc}); rerun its run with "
                                    "--force or delete it with its record", path=path) from None
