"""Recipes: the hyper-parameters a paper used, per (task, protocol, label fraction), as data with their sources.

A recipe is a YAML file ``configs/recipes/<name>.yaml`` (shipped as package data; ``$ECAMP_BENCH_CONFIGS`` may add
folders) of this shape::

    name: ecamp
    description: ...
    split: ecamp                  # the published split lists it runs on (``--split``); null: our own splits
    published: {method: ECAMP}    # its rows of configs/reference/published.yaml (``protocol``: where filed)
    task_names: {ChestX-ray14: nih-cxr14-cls, ...}  # the authors' dataset names and our tasks
    repo: ToniChopp/ECAMP         # where the sources are, at ``commit``
    commit: d02d16d...
    protocols:                    # values every cell of a protocol shares, each with its own source
      finetune:
        grad_clip: {value: 1.0, source: "ECAMP/Fine-tuning/Classification/train.py:555"}
    notes:                        # per protocol: what the authors do that no parameter of ours expresses
      finetune: ["validates once per epoch; ours every eval_every steps"]
    cells:                        # one per published table cell
      - {task: rsna-cls, protocol: finetune, fraction: 0.01, source: "...run_ft.sh:35-38",
         values: {steps: 2000, batch_size: 256, lr: 3.0e-3, warmup_steps: 50}}

A cell's values are overrides of the protocol's defaults (the protocol plugin's params dataclass). A parameter no
source gives keeps that default, and :func:`param_sources` says so. The recipe's ``sha256`` is that of the file's
canonical JSON: it enters the resolved config, hence the run key. Resolution order of a run's protocol parameters:
protocol defaults ← recipe cell ← preset (``tiny``, ``cpu-demo``, a YAML file) ← ``--set``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecamp_bench.config import config_sha256, list_configs, load_yaml_config, resolve_config
from ecamp_bench.errors import ConfigError, UnknownNameError

RECIPES_FOLDER = "recipes"
_FRACTION_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RecipeValue:
    """One hyper-parameter of a recipe: its protocol parameter name, value, and the file:line it was read from."""

    key: str
    value: Any
    source: str


@dataclass(frozen=True)
class RecipeCell:
    """The recipe of one (task, protocol, label fraction) cell of a published table."""

    task: str
    protocol: str
    fraction: float
    values: tuple[RecipeValue, ...]
    note: str = ""

    def overrides(self) -> dict[str, Any]:
        """``{parameter: value}`` to apply over the protocol's defaults."""
        return {v.key: v.value for v in self.values}


@dataclass(frozen=True)
class Recipe:
    """A named recipe (see the module docstring); ``sha256`` identifies its content."""

    name: str
    description: str
    split: str | None
    repo: str
    commit: str
    cells: tuple[RecipeCell, ...]
    notes: dict[str, tuple[str, ...]]
    sha256: str
    path: Path
    published_method: str = ""  # the method whose rows of configs/reference/published.yaml `reproduce` shows
    published_protocol: str = ""  # the protocol those rows are filed under when not the cells' own
    task_names: tuple[tuple[str, str], ...] = ()  # (the authors' dataset name, our task name)

    def cell(self, task: str, protocol: str, fraction: float) -> RecipeCell | None:
        """The cell of ``task``/``protocol`` at the largest listed fraction not above ``fraction`` (else the
        smallest listed one); ``None`` when the recipe has no cell for that task and protocol."""
        mine = sorted((c for c in self.cells if c.task == task and c.protocol == protocol), key=lambda c: c.fraction)
        if not mine:
            return None
        below = [c for c in mine if c.fraction <= float(fraction) + _FRACTION_TOLERANCE]
        return below[-1] if below else mine[0]

    @property
    def short(self) -> str:
        """``name@sha8``, the label the leaderboard and reports show."""
        return f"{self.name}@{self.sha256[:8]}"


def recipe_names() -> list[str]:
    """The names of the recipes found under ``configs/recipes/`` (every config root)."""
    return list_configs(RECIPES_FOLDER)


def load_recipe(name: str) -> Recipe:
    """The recipe ``name`` (or a ``.yaml`` path). Raises :class:`UnknownNameError` / :class:`ConfigError` naming
    the file and key at fault."""
    try:
        path = resolve_config(RECIPES_FOLDER, name)
    except UnknownNameError as exc:
        raise UnknownNameError("recipe", name, recipe_names()) from exc
    data = load_yaml_config(path)
    where = str(path)

    def need(mapping: dict, key: str, kind: type, at: str):
        if key not in mapping or not isinstance(mapping[key], kind):
            raise ConfigError(f"{where}: '{at}{key}' must be a {kind.__name__}")
        return mapping[key]

    shared: dict[str, tuple[RecipeValue, ...]] = {}
    for protocol, entries in (data.get("protocols") or {}).items():
        values = []
        for key, item in (entries or {}).items():
            at = f"protocols.{protocol}.{key}"
            if not isinstance(item, dict) or "value" not in item or not isinstance(item.get("source"), str):
                raise ConfigError(f"{where}: '{at}' must be a mapping with 'value' and 'source'")
            values.append(RecipeValue(str(key), item["value"], item["source"]))
        shared[str(protocol)] = tuple(values)
    cells = []
    names = data.get("task_names") or {}
    if not isinstance(names, dict):
        raise ConfigError(f"{where}: 'task_names' must map the authors' dataset names to our task names")
    for i, raw in enumerate(need(data, "cells", list, "")):
        at = f"cells[{i}]."
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: 'cells[{i}]' must be a mapping")
        protocol, source = need(raw, "protocol", str, at), need(raw, "source", str, at)
        fraction = raw.get("fraction")
        if not isinstance(fraction, (int, float)) or not 0 < float(fraction) <= 1:
            raise ConfigError(f"{where}: '{at}fraction' must be a number in (0, 1], got {fraction!r}")
        own = tuple(RecipeValue(str(k), v, source) for k, v in (raw.get("values") or {}).items())
        own_keys = {v.key for v in own}
        values = tuple(v for v in shared.get(protocol, ()) if v.key not in own_keys) + own
        task, note = need(raw, "task", str, at), str(raw.get("note", ""))
        cells.append(RecipeCell(task, protocol, float(fraction), values, note))
    keys = [(c.task, c.protocol, c.fraction) for c in cells]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate:
        task, protocol, fraction = duplicate
        raise ConfigError(f"{where}: two cells for task {task}, protocol {protocol}, fraction {fraction}")
    published = data.get("published") or {}
    if not isinstance(published, dict):
        raise ConfigError(f"{where}: 'published' must be a mapping (method, protocol)")
    notes = {str(p): tuple(str(n) for n in (v or ())) for p, v in (data.get("notes") or {}).items()}
    return Recipe(
        name=need(data, "name", str, ""), description=str(data.get("description", "")), split=data.get("split"),
        repo=str(data.get("repo", "")), commit=str(data.get("commit", "")), cells=tuple(cells), notes=notes,
        sha256=config_sha256(data), path=path, published_method=str(published.get("method", "")),
        published_protocol=str(published.get("protocol", "")),
        task_names=tuple((str(k), str(v)) for k, v in (data.get("task_names") or {}).items()),
    )


def check_cell(cell: RecipeCell, params_cls: type, recipe: Recipe) -> None:
    """Raise :class:`ConfigError` when a value of ``cell`` names no parameter of the protocol's ``params_cls``."""
    import dataclasses

    known = [f.name for f in dataclasses.fields(params_cls)]
    for value in cell.values:
        if value.key not in known:
            unknown = UnknownNameError(f"parameter of protocol {cell.protocol!r}", value.key, known)
            raise ConfigError(f"{recipe.path}: {unknown}"
                              f" (cell {cell.task} {cell.protocol} {cell.fraction:g})")


def param_sources(cell: RecipeCell | None, preset_keys: set[str], set_keys: set[str]) -> dict[str, str]:
    """Where each overridden parameter came from: ``--set``, the preset, or the recipe's file:line; parameters not
    listed keep the protocol's default (ours where no source gives one)."""
    sources = {v.key: v.source for v in (cell.values if cell is not None else ())}
    sources.update({k: "preset" for k in preset_keys})
    sources.update({k: "--set" for k in set_keys})
    return sources


__all__ = ["Recipe", "RecipeCell", "RecipeValue", "check_cell", "load_recipe", "param_sources", "recipe_names"]
