"""Typed configurations: YAML files under ``configs/``, ``--set a.b=v`` overrides, canonical JSON and its sha256.

A configuration is a (possibly nested) dataclass. :func:`load_config` reads a YAML file, fills in the
dataclass defaults, applies the overrides and type-checks the result; :func:`config_sha256` gives the hash
that result records carry. Every mistake raises :class:`~ecamp_bench.errors.ConfigError` naming the file
and the dotted key at fault.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.resources
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path, PurePath
from typing import Any, TypeVar

import yaml

from ecamp_bench.errors import ConfigError, UnknownNameError

CONFIGS_ENV = "ECAMP_BENCH_CONFIGS"
# The repository's configs/ folder, installed as this package (pyproject.toml maps it like plugins/).
CONFIGS_PACKAGE = "ecamp_bench_configs"
T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but ``1e-4`` is a float (YAML 1.2) instead of the string YAML 1.1 makes it."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+|[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def load_yaml_config(path: Path) -> dict:
    """Read a YAML mapping from ``path``; an empty file is ``{}``.

    Raises :class:`ConfigError` naming the file when it is missing, is not valid YAML, or is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    try:
        data = _yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values, not {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``"a.b=v"`` into ``(["a", "b"], value)``, parsing ``v`` as a YAML scalar or list."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. 'optim.lr=1e-4'")
    try:
        value = _yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML: {exc}") from exc
    return [p.strip() for p in parts], value


def apply_overrides(cfg: Mapping, overrides: Sequence[str]) -> dict:
    """Return a copy of ``cfg`` with every ``a.b=v`` override applied (``cfg`` is never mutated).

    Only existing keys can be set; an unknown key raises :class:`ConfigError` naming the dotted key, the
    closest valid key and every valid key at that level.
    """
    result = copy.deepcopy(dict(cfg))
    for item in overrides:
        parts, value = parse_override(item)
        node: Any = result
        for depth, part in enumerate(parts):
            dotted = ".".join(parts[: depth + 1])
            if not isinstance(node, dict):
                parent = ".".join(parts[:depth])
                raise ConfigError(f"--set {item!r}: '{parent}' is a value, not a section, so '{dotted}' does not exist")
            if part not in node:
                prefix = ".".join(parts[:depth])
                valid = [f"{prefix}.{k}" if prefix else str(k) for k in node]
                raise ConfigError(f"--set {item!r}: {UnknownNameError('config key', dotted, valid)}")
            if depth == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    return result


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (loosely) and convert it, e.g. a list to a tuple."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    wrong = ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any or tp is object:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key)
            except ConfigError:
                continue
        raise wrong
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"config key '{key}': {value!r} is not one of {list(args)}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise wrong
        return _build(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise wrong
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise wrong
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise wrong
    if tp is str:
        if isinstance(value, str):
            return value
        raise wrong
    if tp in (Path, PurePath):
        if isinstance(value, (str, PurePath)):
            return Path(value)
        raise wrong
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {[m.value for m in tp]}") from None
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise wrong
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"config key '{key}': expected {len(args)} items, got {len(value)}")
            items = [_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return list(items) if (origin is list or tp is list) else tuple(items)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise wrong
        key_tp, val_tp = args if args else (Any, Any)
        return {_convert(k, key_tp, f"{key}.{k}"): _convert(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise wrong
    return value


def _build(cls: type[T], data: Mapping, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    dotted = (lambda name: f"{prefix}.{name}") if prefix else (lambda name: name)
    unknown = [k for k in data if k not in fields]
    if unknown:
        valid = [dotted(n) for n in fields]
        raise ConfigError(str(UnknownNameError(f"config key in {cls.__name__}", dotted(str(unknown[0])), valid)))
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints.get(name, Any), dotted(name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"config key '{dotted(name)}' is required ({cls.__name__} has no default for it)")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config section '{prefix or cls.__name__}': {exc}") from exc


def from_dict(cls: type[T], data: Mapping, *, prefix: str = "") -> T:
    """Build the dataclass ``cls`` (nested dataclasses included) from a plain mapping, checking types.

    Missing keys take the dataclass defaults. An unknown key, a wrong type or a missing required key
    raises :class:`ConfigError` naming the dotted key. Lists become tuples where the field is a tuple,
    ints become floats where the field is a float, strings become ``Path`` where the field is a path.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section '{prefix or cls.__name__}' must be a mapping, got {type(data).__name__}")
    return _build(cls, data, prefix)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k) if isinstance(k, PurePath) else k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(_plain(v) for v in obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Enum):
        return _plain(obj.value)
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "shape", None) == ():
        return obj.item()  # numpy scalar
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return obj.tolist()  # numpy array
    return obj


def to_dict(instance: Any) -> dict:
    """A plain dict of a config dataclass: tuples as lists, paths as strings (``from_dict`` reverses it)."""
    if not (dataclasses.is_dataclass(instance) and not isinstance(instance, type)):
        raise TypeError(f"{instance!r} is not a dataclass instance")
    return _plain(instance)


def canonical_json(obj: Any) -> str:
    """One stable JSON text for ``obj``: sorted keys, no whitespace, tuples as lists, paths as strings.

    Dataclasses, numpy scalars/arrays and sets are converted too. Floats use Python's shortest repr,
    which is stable across platforms. NaN and infinities have no JSON form and raise ``ValueError``.
    """
    plain = _plain(obj)
    _reject_non_finite(plain)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_non_finite(obj: Any, where: str = "") -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"canonical JSON cannot hold the non-finite float {obj!r} at '{where or '<root>'}'")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _reject_non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _reject_non_finite(v, f"{where}[{i}]")


def config_sha256(obj: Any) -> str:
    """The hex sha256 of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def shipped_configs() -> Path:
    """The folder of the configs shipped with ecamp-bench (the repo's ``configs/``, installed as a package).

    An editable install finds the repo's folder itself; a wheel or ``pip install .`` carries the YAML files
    as package data of :data:`CONFIGS_PACKAGE`. An editable install made before ``configs/`` became a package
    falls back to the folder next to this package. Raises :class:`ConfigError` when neither exists.
    """
    try:
        return Path(str(importlib.resources.files(CONFIGS_PACKAGE)))
    except ModuleNotFoundError:
        beside = Path(__file__).resolve().parents[1] / "configs"
        if beside.is_dir():
            return beside
        raise ConfigError(f"ecamp-bench's configs are not installed: no package {CONFIGS_PACKAGE!r} and no {beside}; "
                          "reinstall ecamp-bench (pip install .)") from None


def config_roots() -> list[Path]:
    """The folders searched for named configs: ``$ECAMP_BENCH_CONFIGS`` (``os.pathsep``-separated), then the
    shipped ones."""
    roots = [Path(p).expanduser() for p in os.environ.get(CONFIGS_ENV, "").split(os.pathsep) if p.strip()]
    roots.append(shipped_configs())
    return roots


def list_configs(folder: str | Path) -> list[str]:
    """The config names available under ``configs/<folder>/`` in every config root, sorted."""
    names = set()
    for root in config_roots():
        if (root / folder).is_dir():
            names.update(p.stem for p in (root / folder).glob("*.yaml"))
    return sorted(names)


def resolve_config(folder: str | Path, name: str) -> Path:
    """The file ``configs/<folder>/<name>.yaml`` (first config root that has it), e.g. the pre-training config
    ``resolve_config("pretrain", "cpu-small")``.

    A ``name`` that is itself an existing ``.yaml`` path is returned as is. An unknown name raises
    :class:`UnknownNameError` ("unknown pretrain config 'x'") listing the configs of that folder.
    """
    as_path = Path(name).expanduser()
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path
    for root in config_roots():
        candidate = root / folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    raise UnknownNameError(f"{Path(folder).as_posix()} config", name, list_configs(folder))


# The former names (`--preset` named these configs before it meant only a protocol preset); kept for old callers.
list_presets, resolve_preset = list_configs, resolve_config


def load_config(cls: type[T], source: Mapping | str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Build ``cls`` from a YAML file (or a mapping, or only defaults), then apply ``--set`` overrides.

    The defaults of ``cls`` are filled in before the overrides, so any field of the dataclass can be
    overridden even when the file does not mention it.
    """
    if source is None:
        data: Mapping = {}
        where = cls.__name__
    elif isinstance(source, Mapping):
        data, where = source, cls.__name__
    else:
        data, where = load_yaml_config(Path(source)), str(source)
    try:
        full = to_dict(from_dict(cls, data))
        return from_dict(cls, apply_overrides(full, overrides))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
