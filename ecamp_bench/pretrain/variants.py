"""Named pre-training variants: the ablations of ECAMP's own ablation table, selectable with one option.

A variant is a YAML file ``configs/pretrain-variants/<name>.yaml`` (any config root, so a user adds one with
``$ECAMP_BENCH_CONFIGS``)::

    description: MIM only (MAE); SR and MLM losses off
    set:
      model.loss_weights.sr: 0.0
      model.loss_weights.mlm: 0.0

Its ``set`` entries are ``--set`` overrides applied on top of the pre-training config (the user's own ``--set``
come after them and win), and the run's ``name`` becomes ``<config name>-<variant>``, so the exported backbone is
``pretrained/ecamp-<config>-<variant>-<sha>.safetensors`` and its leaderboard row says what it is.
Built in: ``mae-only``, ``no-sr``, ``no-mlm``, ``no-context``, ``random-sr-window``, ``uniform-masking``.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ecamp_bench.config import list_configs, load_yaml_config, resolve_config
from ecamp_bench.errors import ConfigError, UnknownNameError

FOLDER = "pretrain-variants"
FULL = "full"  # the name of "no variant": ECAMP as the pre-training config sets it


@dataclass(frozen=True)
class Variant:
    """One named variant: its ``--set`` overrides (``"a.b=value"`` strings) and a one-line description."""

    name: str
    description: str
    overrides: tuple[str, ...]


def list_variants() -> list[str]:
    """The names of every variant file found in the config roots, sorted."""
    return list_configs(FOLDER)


def load_variant(name: str) -> Variant:
    """The variant ``name``; an unknown name lists the valid ones, a malformed file names its key."""
    try:
        path = resolve_config(FOLDER, name)
    except UnknownNameError:
        raise UnknownNameError("pre-training variant", name, [FULL, *list_variants()]) from None
    data = load_yaml_config(path)
    settings = data.get("set")
    if not isinstance(settings, dict) or not settings:
        raise ConfigError(f"{path}: key 'set' must be a non-empty mapping of dotted config keys to values")
    unknown = set(data) - {"description", "set"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; a variant has 'description' and 'set'")
    overrides = tuple(f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                      for key, value in settings.items())
    return Variant(name=name, description=str(data.get("description", "")), overrides=overrides)


def variant_overrides(config_name: str, variant: str | None) -> list[str]:
    """The ``--set`` overrides of ``variant`` for a pre-training config whose ``name`` is ``config_name``, the run
    name included.

    ``None`` or ``"full"`` is the config itself (no overrides).
    """
    if variant in (None, FULL):
        return []
    chosen = load_variant(variant)
    return [*chosen.overrides, f"name={config_name}-{chosen.name}"]
