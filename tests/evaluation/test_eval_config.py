"""The typed eval config: one resolution order (protocol defaults ← recipe cell ← preset ← --set), keys --set may
not change, and the same config sha256 (hence run keys) as the dict-built config of earlier versions."""

from __future__ import annotations

import dataclasses

import pytest

from ecamp_bench.errors import ConfigError
from ecamp_bench.evaluation.eval_config import (
    EvalConfig,
    PublishedSplitRef,
    RecipeRef,
    SeededSplit,
    resolve_eval_config,
)
from ecamp_bench.evaluation.runner import RunRequest, prepare_run
from ecamp_bench.plugins import get_catalog


def _resolve(**kwargs) -> EvalConfig:
    catalog = get_catalog()
    task = catalog.task(kwargs.pop("task", "rsna-cls"))
    protocol = catalog.protocol(kwargs.pop("protocol", "linear"))
    return resolve_eval_config(task=task, protocol=protocol, backbone=catalog.backbone("random-init"), **kwargs)


def test_each_layer_overrides_the_one_before():
    defaults = _resolve().protocol
    assert (defaults.lr, defaults.batch_size, defaults.max_epochs, defaults.patience) == (5e-4, 48, 50, 10)
    recipe = {"lr": 1e-3, "batch_size": 8, "weight_decay": 0.5}
    only_recipe = _resolve(recipe_values=recipe).protocol
    assert (only_recipe.lr, only_recipe.batch_size, only_recipe.weight_decay) == (1e-3, 8, 0.5)
    with_preset = _resolve(recipe_values=recipe, preset="tiny").protocol  # tiny: lr 1e-2, batch 16, 100 epochs
    assert (with_preset.lr, with_preset.batch_size, with_preset.max_epochs) == (1e-2, 16, 100)
    assert with_preset.weight_decay == 0.5  # the recipe's value survives where the preset is silent
    last = _resolve(recipe_values=recipe, preset="tiny", overrides=["protocol.lr=0.25", "split.seed=3"])
    assert last.protocol.lr == 0.25 and last.protocol.batch_size == 16
    assert last.split == SeededSplit(seed=3) and isinstance(last.protocol, type(defaults))


@pytest.mark.parametrize("item, option", [("preset=tiny", "--preset"), ("task.name=siim-seg", "--task"),
                                          ("recipe.name=mrm", "--recipe")])
def test_set_refuses_keys_other_options_choose(item, option):
    with pytest.raises(ConfigError, match=f"chosen by {option}"):
        _resolve(overrides=[item])


def test_set_names_an_unknown_or_mistyped_key():
    with pytest.raises(ConfigError, match="protocol.lrr"):
        _resolve(overrides=["protocol.lrr=1"])
    with pytest.raises(ConfigError, match="split.seed"):
        _resolve(overrides=["split.seed=abc"])


def test_the_config_is_frozen_typed_data_and_its_plain_form_round_trips():
    config = _resolve(preset="tiny", recipe=RecipeRef("mgca", "ab" * 32, {"task": "rsna-cls", "fraction": 0.01}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.preset = "default"  # type: ignore[misc]
    data = config.to_data()
    assert list(data) == ["task", "protocol", "preset", "backbone", "split", "eval", "recipe"]
    assert data["recipe"] == {"name": "mgca", "sha256": "ab" * 32, "cell": {"task": "rsna-cls", "fraction": 0.01}}
    published = config.with_published_split("mrm", allow_overlap=False)
    assert published.split == PublishedSplitRef("mrm", False)
    assert published.to_data()["split"] == {"published": "mrm", "allow_overlap": False}
    assert published.sha256 != config.sha256


# Measured with the dict-built config of d287bcc (before the typed config): the typed config must hash the same,
# so result folders made by earlier versions are still recognised as done.
PINNED = [
    (dict(task="rsna-cls", fraction=0.1, seed=0, preset="tiny"),
     "26d69cb61d2e88553bfced765c2d2a76872ce5aede617eb13226752b39d889c8"),
    (dict(task="chexpert-cls", fraction=1.0, seed=1, protocol="finetune", preset="tiny",
          overrides=["protocol.lr=0.001", "split.seed=2", "eval.n_bootstrap=10"]),
     "ca9d80fad5dc3f0e39e184dbe2483374a2f759e03c759fc469dc217f9716e9bd"),
    (dict(task="siim-seg", fraction=0.01, seed=0, preset="tiny", overrides=["backbone.input_size=64"]),
     "a062b346d6b689ca74b2df4102351b3e87e50005516b0b977d176a884b4f782f"),
]


@pytest.mark.parametrize("request_args, sha", PINNED, ids=[r["task"] for r, _ in PINNED])
def test_config_sha256_is_unchanged_from_the_dict_built_config(synthetic_tiny, request_args, sha):
    plan = prepare_run(RunRequest(backbone="random-init", data_root=synthetic_tiny, **request_args), get_catalog())
    assert plan.config_sha256 == sha
    assert plan.config == plan.eval_config.to_data() and plan.params is plan.eval_config.protocol


def test_the_protocol_only_resolver_agrees_with_the_full_one():
    from ecamp_bench.evaluation.eval_config import resolve_protocol_params

    catalog = get_catalog()
    layers = dict(preset="tiny", recipe_values={"lr": 1e-3, "weight_decay": 0.5},
                  overrides=["protocol.batch_size=7", "split.seed=3"])
    full = _resolve(**layers).protocol
    assert resolve_protocol_params(catalog.protocol("linear"), **layers) == full
    assert (full.lr, full.weight_decay, full.batch_size) == (1e-2, 0.5, 7)
