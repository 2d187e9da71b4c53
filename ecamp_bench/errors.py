"""The exception hierarchy. Every error a user can cause is an `EcampBenchError`.

The CLI prints these as one red line on stderr and exits non-zero; anything else is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EcampBenchError(Exception):
    """Base class of every error ecamp-bench raises on purpose."""


class UnknownNameError(EcampBenchError, KeyError):
    """A name (task, backbone, protocol, layout, protocol preset, ...) that no plugin provides."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], *, owner: str = ""):
        """``owner`` names what the names belong to, e.g. ``"of protocol 'linear'"`` (after the unknown name)."""
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        close = difflib.get_close_matches(name, self.valid, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        listing = ", ".join(self.valid) if self.valid else "(none registered)"
        phrase = "'" in kind or " in " in kind or " of " in kind  # e.g. "preset of protocol 'finetune'"
        valid_label = "names" if phrase else f"{kind}s"
        of = f" {owner}" if owner else ""
        super().__init__(f"unknown {kind} '{name}'{of}.{hint} Valid {valid_label}: {listing}")

    def __str__(self) -> str:
        return self.args[0]


class DataError(EcampBenchError):
    """Bad input data. The message names the file, and the row or key where it applies."""

    def __init__(self, message: str, *, path: object | None = None, row: int | None = None, key: str | None = None):
        self.path, self.row, self.key = path, row, key
        self.message = message  # without the location, for callers that report path/row/key themselves
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if key is not None:
            where.append(f"key '{key}'")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class CheckpointError(EcampBenchError):
    """A weight file that cannot be loaded as asked (missing/unexpected/mis-shaped keys, unsafe pickle, ...)."""


class PluginError(EcampBenchError):
    """A plugin that failed to import, declares a duplicate name, or references something that does not exist."""


class ConfigError(EcampBenchError):
    """A configuration file or `--set key=value` override that is invalid."""


class DiskFullError(EcampBenchError, OSError):
    """A write that ran out of space (``ENOSPC``/``EDQUOT``); the message names the folder."""


class NonFiniteError(EcampBenchError, ValueError):
    """NaN or ±inf where a finite number is required (model outputs, metric inputs, record values)."""
