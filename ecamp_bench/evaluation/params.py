"""Protocol hyper-parameters: dataclass defaults ← ``configs/protocols/<name>.yaml`` ``params`` ← a preset.

The YAML file holds the published values under ``params`` and named presets (``tiny``) under
``presets``; presets in the file win over the ones a plugin registers in ``ProtocolSpec.presets``.
``default`` is the published configuration. ``--set protocol.<key>=v`` is applied later by the runner.
"""

from __future__ import annotations

from typing import Any

from ecamp_bench.config import from_dict, load_yaml_config, resolve_preset, to_dict
from ecamp_bench.errors import ConfigError, UnknownNameError
from ecamp_bench.specs import ProtocolSpec

DEFAULT_PRESET = "default"


def protocol_file(spec: ProtocolSpec) -> dict:
    """The protocol's YAML (``{"params": {...}, "presets": {...}}``), or ``{}`` when it has none."""
    try:
        path = resolve_preset("protocols", spec.name)
    except UnknownNameError:
        return {}
    data = load_yaml_config(path)
    unknown = set(data) - {"params", "presets"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)} (valid: params, presets)")
    return data


def protocol_params(spec: ProtocolSpec, preset: str = DEFAULT_PRESET) -> Any:
    """The protocol's params dataclass for ``preset`` (``default`` = the published values)."""
    data = protocol_file(spec)
    presets: dict[str, dict] = {**spec.presets, **(data.get("presets") or {})}
    values = to_dict(from_dict(spec.params, data.get("params") or {}, prefix="params"))
    if preset != DEFAULT_PRESET:
        if preset not in presets:
            raise UnknownNameError(f"preset of protocol '{spec.name}'", preset, [DEFAULT_PRESET, *presets])
        values.update(presets[preset] or {})
    return from_dict(spec.params, values, prefix=f"presets.{preset}" if preset != DEFAULT_PRESET else "params")
