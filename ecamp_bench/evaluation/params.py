"""Protocol hyper-parameters, from ONE source: the protocol plugin.

The params dataclass's defaults are the published values (``default``); ``ProtocolSpec.presets`` maps a
preset name (``tiny``) to overrides of those defaults. Nothing else holds protocol values (the former
``configs/protocols/*.yaml`` copies disagreed with the plugins and are gone). For a one-off variant,
``--preset path/to/file.yaml`` applies that file's mapping of overrides instead of a named preset, and
``--set protocol.<key>=v`` is applied later by the runner. A recipe (:mod:`ecamp_bench.evaluation.recipes`) sits
between the defaults and the preset: protocol defaults ← recipe ← preset ← ``--set``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecamp_bench.config import from_dict, load_yaml_config, to_dict
from ecamp_bench.errors import ConfigError, UnknownNameError
from ecamp_bench.specs import ProtocolSpec

DEFAULT_PRESET = "default"


def preset_names(spec: ProtocolSpec) -> list[str]:
    """``default`` and the protocol's named presets."""
    return [DEFAULT_PRESET, *sorted(spec.presets)]


def preset_overrides(spec: ProtocolSpec, preset: str) -> dict[str, Any]:
    """The overrides of ``preset``: ``{}`` for ``default``, a named preset, or the mapping in a ``.yaml`` file."""
    if preset == DEFAULT_PRESET:
        return {}
    if preset in spec.presets:
        return dict(spec.presets[preset] or {})
    path = Path(preset).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"preset file {path} does not exist (named presets of protocol '{spec.name}': "
                              f"{', '.join(preset_names(spec))})")
        return load_yaml_config(path)
    raise UnknownNameError("preset", preset, preset_names(spec), owner=f"of protocol '{spec.name}'")


def protocol_params(spec: ProtocolSpec, preset: str = DEFAULT_PRESET, recipe: Mapping[str, Any] | None = None) -> Any:
    """The protocol's params dataclass: its defaults, then ``recipe``'s overrides (a recipe cell's values), then
    ``preset``'s (``default``: none)."""
    values = to_dict(spec.params())
    for what, overrides in (("a recipe", dict(recipe or {})), (f"preset '{preset}'", preset_overrides(spec, preset))):
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            what_param = f"parameter of protocol '{spec.name}' in {what}"
            raise ConfigError(str(UnknownNameError(what_param, unknown[0], list(values))))
        values.update(overrides)
    return from_dict(spec.params, values, prefix=f"presets.{preset}" if preset != DEFAULT_PRESET else "params")


def param_meanings(params_cls: type) -> dict[str, str]:
    """``{field: meaning}`` for the params fields that declare one (``field(metadata={"meaning": ...})``), e.g. a
    value 0 that stands for "the backbone's input size"."""
    from dataclasses import fields

    return {f.name: str(f.metadata["meaning"]) for f in fields(params_cls) if "meaning" in f.metadata}


__all__ = ["DEFAULT_PRESET", "param_meanings", "preset_names", "preset_overrides", "protocol_params"]
