"""The backbone weight file shared by the pre-trainer and every evaluation task, and safe checkpoint reading.

Format: a ``.safetensors`` file holding the image encoder's state dict under **timm ViT names**, so that::

    timm.create_model(meta.arch, pretrained=False, num_classes=0, **meta.model_kwargs).load_state_dict(sd)

works strictly. The safetensors header metadata (string → string) carries a :class:`BackboneMeta`:
scalars as strings, lists and dicts as JSON, under the keys ``ecamp_bench.<field>`` plus
``ecamp_bench.format = "backbone-v1"``.

Foreign ``.pth``/``.pt``/``.bin``/``.ckpt`` checkpoints are read with ``torch.load(weights_only=True)`` only, so
no code from the pickle ever runs. Classes a release pickles *next to* its weights (a Lightning checkpoint's
``hyper_parameters`` as an OmegaConf ``DictConfig`` or Lightning ``AttributeDict``, numpy scalars in callback
states) are not importable under ``weights_only``; they are replaced by :class:`InertObject` stand-ins (our own
class, registered under their names for this one load: nothing of theirs is imported or called), listed in one
log line. A file whose weights themselves are not plain tensors is refused (:class:`CheckpointError` naming
the file). The sha256 of a weight
file is cached by (path, size, mtime), because hashing a ViT-B file on every run costs seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecamp_bench.errors import CheckpointError

if TYPE_CHECKING:
    import torch

FORMAT = "backbone-v1"
_PREFIX = "ecamp_bench."
_PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
_WRAPPER_KEYS = ("state_dict", "model", "module", "encoder", "teacher")
# Plain-data classes that published checkpoints pickle next to their weights (MAE/MRM/ECAMP's
# ``misc.save_model`` stores the training ``args`` as an ``argparse.Namespace``); nothing else is allowed.
SAFE_GLOBALS = [argparse.Namespace]

log = logging.getLogger(__name__)


class InertObject:
    """Stand-in for a foreign class pickled next to the weights: creating or calling it gives an empty
    ``collections.OrderedDict``, one of the few types ``weights_only`` lets a pickle fill (dict items through
    ``SETITEMS``, object state through ``BUILD`` into its ``__dict__``). The original class is never imported
    or called; what the pickle held stays inspectable as plain data.
    """

    def __new__(cls, *args, **kwargs):
        from collections import OrderedDict

        return OrderedDict()


@dataclass
class BackboneMeta:
    """What a backbone weight file says about itself: enough to rebuild the timm model and feed it.

    ``arch`` is a timm model name and ``model_kwargs`` the keyword arguments that, passed to
    ``timm.create_model(arch, pretrained=False, num_classes=0, **model_kwargs)``, build a model whose
    state dict matches the file. ``mean``/``std`` are the per-channel normalisation of the 3-channel input
    the weights were trained with.
    """

    arch: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    origin: str = ""
    config_sha256: str = ""
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)

    def to_header(self) -> dict[str, str]:
        """The safetensors header metadata (every value a string)."""
        header = {_PREFIX + "format": FORMAT}
        for key, value in asdict(self).items():
            header[_PREFIX + key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return header

    @classmethod
    def from_header(cls, header: Mapping[str, str], path: Path) -> BackboneMeta:
        """Parse the header written by :meth:`to_header`; a missing or bad field raises CheckpointError."""
        if header.get(_PREFIX + "format") != FORMAT:
            raise CheckpointError(
                f"{path}: not an ecamp-bench backbone file (metadata key '{_PREFIX}format' is "
                f"{header.get(_PREFIX + 'format')!r}, expected {FORMAT!r})"
            )
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = header.get(_PREFIX + f.name)
            if raw is None:
                if f.name == "arch":
                    raise CheckpointError(f"{path}: metadata key '{_PREFIX}arch' is missing")
                continue
            if f.type in ("str", str):
                values[f.name] = raw
                continue
            try:
                values[f.name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{path}: metadata key '{_PREFIX}{f.name}' is not valid JSON: {exc}") from None
        return cls(**values)


def utc_now() -> str:
    """The current time as ISO-8601 UTC with seconds precision (``2025-01-31T12:00:00Z``)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sorted_metadata(blob: bytes) -> bytes:
    """A safetensors file with its ``__metadata__`` keys in sorted order (the library writes them in hash-map
    order, so equal inputs gave different bytes). Tensor entries and data are kept as written."""
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    ordered = {"__metadata__": dict(sorted(header.pop("__metadata__").items()))} if "__metadata__" in header else {}
    ordered.update(header)
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads its header with spaces to 8-byte alignment
    return len(text).to_bytes(8, "little") + text + blob[8 + size :]


def save_backbone_file(path: Path, state_dict: Mapping[str, torch.Tensor], meta: BackboneMeta, *,
                       stamp_time: bool = True) -> Path:
    """Write ``state_dict`` (timm names) and ``meta`` to the safetensors file ``path``, atomically.

    Tensors are made contiguous and detached to CPU; shared storage is cloned (safetensors refuses aliases).
    ``meta.created_at`` is filled in when empty, unless ``stamp_time`` is false (a file that must be a function
    of its inputs alone, e.g. a pre-training export, whose sha256 keys result records). Returns ``path``.
    """
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if stamp_time and not meta.created_at:
        meta.created_at = utc_now()
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in state_dict.items()}
    from ecamp_bench.atomic import atomic_write_bytes

    atomic_write_bytes(path, _sorted_metadata(save(tensors, metadata=meta.to_header())))
    return path


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, read from its JSON header alone (no torch, no tensor data).

    Raises :class:`CheckpointError` naming the file when the header is not a safetensors header."""
    path = Path(path)
    _require_file(path)
    try:
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= min(100_000_000, path.stat().st_size - 8):
                raise ValueError(f"header length {size} does not fit a file of {path.stat().st_size} bytes")
            header = json.loads(handle.read(size))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read safetensors header: {exc}") from None
    metadata = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in metadata.items()}


def read_backbone_meta(path: Path) -> BackboneMeta:
    """The :class:`BackboneMeta` of a backbone file, reading only its header (no torch import)."""
    path = Path(path)
    return BackboneMeta.from_header(safetensors_metadata(path), path)


def load_backbone_file(path: Path) -> tuple[dict[str, torch.Tensor], BackboneMeta]:
    """Read a backbone weight file written by :func:`save_backbone_file`: ``(state_dict, meta)``."""
    path = Path(path)
    meta = read_backbone_meta(path)
    return load_state_dict_file(path), meta


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a state dict from ``.safetensors`` or (safely) from a pickle-based ``.pth``/``.pt``/``.bin``.

    Pickles go through ``torch.load(weights_only=True)``: tensors, plain containers and :data:`SAFE_GLOBALS`
    (``argparse.Namespace``) load as they are; other pickled classes of a zip checkpoint become
    :class:`InertObject` stand-ins (see the module docstring); only tensors are kept as weights. A checkpoint that
    wraps its weights (``{"model": {...}}``, ``{"state_dict": {...}}``, Lightning's checkpoint dict) is unwrapped.
    """
    import torch

    path = Path(path)
    _require_file(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot read safetensors file: {exc}") from None
    if path.suffix not in _PICKLE_SUFFIXES:
        raise CheckpointError(f"{path}: unknown weight file type (use .safetensors or one of {_PICKLE_SUFFIXES})")
    try:
        stand_ins = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) if n not in _SAFE_NAMES]
    except Exception:  # a legacy (non-zip) pickle cannot be listed; torch.load below refuses what it must
        stand_ins = []
    try:
        allowed = [*SAFE_GLOBALS, *((InertObject, name) for name in stand_ins)]
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for unsafe globals, RuntimeError for corrupt files
        raise CheckpointError(
            f"{path}: refused or unreadable checkpoint (only tensors and plain containers are loaded, "
            f"with torch.load(weights_only=True)): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if stand_ins:
        log.info("%s: inert stand-ins for pickled non-weight objects: %s", path.name, ", ".join(stand_ins))
    return _unwrap_state_dict(obj, path)


_SAFE_NAMES = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    while isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            raise CheckpointError(f"{path}: no state dict found (top-level keys: {sorted(map(str, obj))[:10]})")
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a mapping of tensors, found {type(obj).__name__}")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_strict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: object,
                strict: bool = True) -> None:
    """Load ``state_dict`` into ``model``; with ``strict`` every key must match by name and shape.

    Raises :class:`CheckpointError` naming ``source`` and listing missing, unexpected and wrong-shape keys.
    Without ``strict``, matching keys are loaded and mismatches are ignored.
    """
    problems = strict_load_problems(model, state_dict)
    if strict and problems:
        raise CheckpointError(f"{source}: weights do not match the model ({problems})")
    expected = model.state_dict()
    usable = {k: v for k, v in state_dict.items() if k in expected and tuple(v.shape) == tuple(expected[k].shape)}
    model.load_state_dict(usable, strict=False)


def strict_load_problems(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state_dict`` from loading strictly into ``model``: missing, unexpected and wrong-shape keys
    (the first 20 of each), or ``""`` when it would load. Reads shapes only (works on a meta-device model)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(
        f"{k} (file {tuple(state_dict[k].shape)}, model {tuple(expected[k].shape)})"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    parts = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong-shape keys", wrong_shape)):
        if keys:
            parts.append(f"{label}: {', '.join(keys[:20])}" + (f" (+{len(keys) - 20} more)" if len(keys) > 20 else ""))
    return "; ".join(parts)


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: Path) -> str:
    """The sha256 hex digest of the file at ``path``, cached by (resolved path, size, mtime_ns)."""
    path = Path(path)
    _require_file(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: weight file not found")


def check_weight_file(path: Path) -> None:
    """Refuse, before any run, a weight file the loader could not read: missing, of an unknown type, a
    ``.safetensors`` whose header does not parse, or a ``.pth``/``.pt``/``.bin``/``.ckpt`` that is neither a
    torch zip archive nor a pickle (e.g. a text file). Reads a few bytes (the header for safetensors), not the
    weights. Raises :class:`CheckpointError` naming the file."""
    path = Path(path)
    _require_file(path)
    if path.suffix == ".safetensors":
        safetensors_metadata(path)  # the header parses
        return
    if path.suffix not in _PICKLE_SUFFIXES:
        raise CheckpointError(f"{path}: unknown weight file type (use .safetensors or one of {_PICKLE_SUFFIXES})")
    with path.open("rb") as handle:
        head = handle.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch's zip format, or a legacy pickle
        raise CheckpointError(f"{path}: not a torch checkpoint (neither a zip archive written by torch.save nor a "
                              f"pickle; it starts with {head!r})")
