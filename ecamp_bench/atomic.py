"""Atomic file writes: a temp file in the target's folder, flushed and fsynced, then ``os.replace``.

A crash before the replace leaves the previous file untouched and no partial file under the target name
(the temp file, ``.<name>.<random><suffix>``, is removed). Every writer of results, caches, manifests and
reports goes through :func:`atomic_path` (or its text/bytes/JSON shortcuts), so there is one copy of this logic.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path next to ``path``; when the body returns, fsync it and move it onto ``path``.

    ``suffix`` keeps writers that append an extension happy (``np.savez`` adds ``.npz`` unless the name
    ends with it). If the body raises, the temp file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``obj`` as JSON (no NaN, trailing newline) to ``path`` atomically; returns ``path``."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n")


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]
