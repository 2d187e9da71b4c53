"""Protocol hyper-parameters from one source (the plugin): published defaults, presets, round trips, errors."""

from __future__ import annotations

import dataclasses

import pytest

from ecamp_bench.config import canonical_json, from_dict, to_dict
from ecamp_bench.errors import ConfigError, UnknownNameError
from ecamp_bench.evaluation.params import preset_names, protocol_params
from ecamp_bench.plugins import get_catalog

PROTOCOLS = get_catalog().names("protocol")


def test_linear_defaults_are_mgca_published_values():
    params = protocol_params(get_catalog().protocol("linear"))
    assert ((params.lr, params.weight_decay, params.batch_size, params.max_epochs, params.patience)
            == (5e-4, 1e-6, 48, 50, 10))
    assert params.betas == (0.9, 0.999)


def test_finetune_defaults_and_tiny_preset():
    spec = get_catalog().protocol("finetune")
    default = protocol_params(spec)
    assert ((default.optimizer, default.lr, default.momentum, default.batch_size, default.steps)
            == ("sgd", 3e-3, 0.9, 96, 2000))
    tiny = protocol_params(spec, "tiny")
    assert tiny.steps == 30 and tiny.batch_size == 16 and tiny.momentum == 0.9


def test_frozen_seg_tiny_is_dice_only():
    """The value the old YAML applied and the plugin lacked: the one source now says it."""
    assert protocol_params(get_catalog().protocol("frozen-seg"), "tiny").focal_weight == 0.0
    assert protocol_params(get_catalog().protocol("frozen-seg")).focal_weight == 20.0


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(UnknownNameError, match="tiy.*Did you mean 'tiny'"):
        protocol_params(get_catalog().protocol("linear"), "tiy")


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_protocol_and_preset_resolves_and_round_trips(name):
    spec = get_catalog().protocol(name)
    assert protocol_params(spec) == spec.params()  # default = the dataclass defaults, nothing else
    assert "tiny" in spec.presets, "every protocol needs a tiny preset for CPU smoke runs and contract tests"
    fields = {f.name for f in dataclasses.fields(spec.params)}
    for preset in preset_names(spec):
        params = protocol_params(spec, preset)
        assert set(spec.presets.get(preset, {})) <= fields
        for key, value in spec.presets.get(preset, {}).items():
            assert to_dict(params)[key] == to_dict(from_dict(spec.params, {key: value}))[key]
        again = from_dict(spec.params, to_dict(params))
        assert again == params and canonical_json(again) == canonical_json(params)


def test_preset_from_a_yaml_file_and_unknown_keys(tmp_path):
    spec = get_catalog().protocol("linear")
    path = tmp_path / "mine.yaml"
    path.write_text("lr: 0.003\nmax_epochs: 7\n")
    params = protocol_params(spec, str(path))
    assert (params.lr, params.max_epochs, params.batch_size) == (0.003, 7, 48)
    path.write_text("learning_rate: 0.003\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        protocol_params(spec, str(path))
