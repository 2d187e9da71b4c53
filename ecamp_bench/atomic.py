"""Atomic file writes: a temp file in the target's folder, flushed and fsynced, then ``os.replace``.

A crash before the replace leaves the previous file untouched and no partial file under the target name
(the temp file, ``.<name>.<random><suffix>``, is removed). Every writer of results, caches, manifests and
reports goes through :func:`atomic_path` (or its text/bytes/JSON shortcuts), so there is one copy of this logic.

The file gets the mode a plain ``open(path, "w")`` would give (``0o666`` less the process umask), not the
``0o600`` of :func:`tempfile.mkstemp`: a results folder shared with colleagues stays readable. A full disk
(``ENOSPC``/``EDQUOT``) becomes :class:`~ecamp_bench.errors.DiskFullError`, one line naming the folder.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ecamp_bench.errors import DiskFullError

_UMASK_LOCK = threading.Lock()
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode ``open()`` (``0o666``) or ``mkdir()`` (``0o777``) gives a new file or folder under the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def disk_full(exc: BaseException, folder: Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``folder`` when ``exc`` is an ``ENOSPC``/``EDQUOT`` ``OSError``; else None."""
    if isinstance(exc, OSError) and not isinstance(exc, DiskFullError) and exc.errno in DISK_FULL_ERRNOS:
        return DiskFullError(f"{folder}: no space left on device ({os.strerror(exc.errno)}); "
                             "nothing was replaced, free some space and run again")
    return None


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path next to ``path``; when the body returns, fsync it and move it onto ``path``.

    ``suffix`` keeps writers that append an extension happy (``np.savez`` adds ``.npz`` unless the name
    ends with it). If the body raises, the temp file is removed and ``path`` is left as it was; a full disk
    raises :class:`~ecamp_bench.errors.DiskFullError` naming the folder.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.fchmod(fd, default_mode())
        os.close(fd)
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        full = disk_full(exc, path.parent)
        if full is None:
            raise
        raise full from None
    finally:
        if tmp is not None and os.path.exists(tmp):
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


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "current_umask",
           "default_mode", "disk_full"]
