"""The typed eval config: everything a run's ``config_sha256`` covers, resolved in one order.

One evaluation's config has seven sections, each a frozen dataclass:

- ``task``: name, version and the task's options (:class:`TaskSection`);
- ``protocol``: the protocol's params dataclass (its defaults are the published values);
- ``preset``: the protocol preset's name (``default``, ``tiny``, ... or a YAML path);
- ``backbone``: the fields of the resolved :class:`~ecamp_bench.specs.BackboneSpec` that change what is built
  (:data:`BACKBONE_CONFIG_FIELDS`);
- ``split``: our seeded split (:class:`SeededSplit`) or a published one (:class:`PublishedSplitRef`);
- ``eval``: scoring options (:class:`ScoringOptions`);
- ``recipe``: the recipe's name, sha256 and cell (:class:`RecipeRef`), absent without a recipe.

:func:`resolve_eval_config` is the one place that applies the resolution order

    protocol defaults  ←  recipe cell  ←  preset  ←  ``--set``

and :meth:`EvalConfig.to_data` gives the plain mapping that is hashed into the run key and stored in the
record (``config.resolved``), with the same keys and values as records of schema 2 hold, so run keys do not change.
``--set`` reaches ``task.options.*``, ``protocol.*``, ``backbone.*``, ``split.*`` and ``eval.*``; the names
(``task.name``, ``preset``, ``recipe.*``) are chosen by their own options and refused there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ecamp_bench.config import apply_overrides, config_sha256, from_dict, to_dict
from ecamp_bench.errors import ConfigError
from ecamp_bench.evaluation.params import DEFAULT_PRESET, protocol_params
from ecamp_bench.specs import BackboneSpec, ProtocolSpec, TaskSpec, backbone_from_data, backbone_to_data

BACKBONE_CONFIG_FIELDS = (
    "arch", "input_size", "mean", "std", "global_pool", "model_kwargs", "feature_indices", "adapt_state_dict",
)
"""The backbone spec's fields that enter the eval config (and its sha256): what changes the built encoder."""

FIXED_BY_OPTIONS = ("task.name", "task.version", "preset", "recipe")
"""Config keys ``--set`` may not change: ``--task``, ``--preset`` and ``--recipe`` choose them."""


@dataclass(frozen=True)
class TaskSection:
    """The task's name and version, and its options (``TaskSpec.options``; ``--set task.options.K=V``)."""

    name: str
    version: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SeededSplit:
    """Our patient-grouped split: test and val shares of the patients, drawn with ``seed`` (the run seed draws
    only the label-fraction subset of train)."""

    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.2


@dataclass(frozen=True)
class PublishedSplitRef:
    """A published split (``--split mrm|ecamp|benchx|FOLDER``): its resolved name, and whether a test image that
    also appears in train/val lists was allowed (``--allow-split-overlap``)."""

    published: str
    allow_overlap: bool = False


@dataclass(frozen=True)
class ScoringOptions:
    """How metrics are scored: bootstrap resamples for the confidence intervals."""

    n_bootstrap: int = 1000


@dataclass(frozen=True)
class RecipeRef:
    """The recipe a run follows: its name and sha256 (of the YAML file), and the cell used (None: the recipe has
    no cell for this task/protocol/fraction, so the protocol's defaults hold)."""

    name: str
    sha256: str
    cell: dict[str, Any] | None = None


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation's resolved config (see the module docstring). ``protocol`` is the protocol's params
    dataclass instance; ``backbone`` the resolved spec (only :data:`BACKBONE_CONFIG_FIELDS` enter the data)."""

    task: TaskSection
    protocol: Any
    preset: str
    backbone: BackboneSpec
    split: SeededSplit | PublishedSplitRef = field(default_factory=SeededSplit)
    eval: ScoringOptions = field(default_factory=ScoringOptions)
    recipe: RecipeRef | None = None

    def to_data(self) -> dict[str, Any]:
        """The plain mapping hashed into the run key and stored as the record's ``config.resolved``."""
        data: dict[str, Any] = {
            "task": to_dict(self.task),
            "protocol": to_dict(self.protocol),
            "preset": self.preset,
            "backbone": backbone_to_data(self.backbone, BACKBONE_CONFIG_FIELDS),
            "split": to_dict(self.split),
            "eval": to_dict(self.eval),
        }
        if self.recipe is not None:
            data["recipe"] = to_dict(self.recipe)
        return data

    @property
    def sha256(self) -> str:
        """The hex sha256 of :meth:`to_data` (canonical JSON): the run key's ``config_sha256``."""
        return config_sha256(self.to_data())

    def with_published_split(self, name: str, allow_overlap: bool) -> EvalConfig:
        """This config on the published split ``name`` (its seeded-split values no longer apply)."""
        return replace(self, split=PublishedSplitRef(published=name, allow_overlap=bool(allow_overlap)))


def _check_settable(overrides: Sequence[str]) -> None:
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        for fixed in FIXED_BY_OPTIONS:
            if key == fixed or key.startswith(fixed + "."):
                option = {"task.name": "--task", "task.version": "--task", "preset": "--preset"}.get(fixed, "--recipe")
                raise ConfigError(f"--set {item!r}: '{key}' is chosen by {option}, not by --set")


def resolve_protocol_params(protocol: ProtocolSpec, *, preset: str = DEFAULT_PRESET,
                            recipe_values: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> Any:
    """Only the protocol section of :func:`resolve_eval_config`, in the same order (defaults ← ``recipe_values``
    ← ``preset`` ← the ``protocol.*`` items of ``overrides``; other items are ignored): for showing a recipe
    cell's parameters without a backbone or data (``reproduce --dry-run``)."""
    params = protocol_params(protocol, preset, recipe_values)
    mine = [item for item in overrides if item.split("=", 1)[0].strip().startswith("protocol.")]
    if not mine:
        return params
    return from_dict(protocol.params, apply_overrides({"protocol": to_dict(params)}, mine)["protocol"],
                     prefix="protocol")


def resolve_eval_config(
    *,
    task: TaskSpec,
    protocol: ProtocolSpec,
    backbone: BackboneSpec,
    preset: str = DEFAULT_PRESET,
    recipe: RecipeRef | None = None,
    recipe_values: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> EvalConfig:
    """Resolve a run's config: protocol defaults ← ``recipe_values`` (the recipe cell's) ← ``preset`` ←
    ``overrides`` (``--set a.b=v``, applied to :meth:`EvalConfig.to_data`'s form).

    Raises :class:`~ecamp_bench.errors.ConfigError` naming the key at fault: an unknown parameter in a recipe
    cell or a preset, an unknown or mistyped ``--set`` key, or a ``--set`` of a key another option chooses.
    """
    _check_settable(overrides)
    params = protocol_params(protocol, preset, recipe_values)
    base = EvalConfig(task=TaskSection(task.name, task.version, dict(task.options)), protocol=params, preset=preset,
                      backbone=backbone, recipe=recipe)
    if not overrides:
        return base
    data = apply_overrides(base.to_data(), overrides)
    return replace(
        base,
        task=replace(base.task, options=dict(data["task"]["options"])),
        protocol=from_dict(protocol.params, data["protocol"], prefix="protocol"),
        backbone=backbone_from_data(data["backbone"], base=backbone),
        split=from_dict(SeededSplit, data["split"], prefix="split"),
        eval=from_dict(ScoringOptions, data["eval"], prefix="eval"),
    )


__all__ = [
    "BACKBONE_CONFIG_FIELDS", "EvalConfig", "PublishedSplitRef", "RecipeRef", "ScoringOptions", "SeededSplit",
    "TaskSection", "resolve_eval_config", "resolve_protocol_params",
]
