"""Protocol hyper-parameters: published defaults from configs/protocols/*.yaml, the tiny preset, errors."""

from __future__ import annotations

import pytest

from ecamp_bench.errors import UnknownNameError
from ecamp_bench.evaluation.params import protocol_params
from ecamp_bench.plugins import get_catalog


def test_linear_defaults_are_mgca_published_values():
    params = protocol_params(get_catalog().protocol("linear"))
    assert (params.lr, params.weight_decay, params.batch_size, params.max_epochs, params.patience) == (5e-4, 1e-6, 48, 50, 10)
    assert params.betas == (0.9, 0.999)


def test_finetune_defaults_and_tiny_preset():
    spec = get_catalog().protocol("finetune")
    default = protocol_params(spec)
    assert (default.optimizer, default.lr, default.momentum, default.batch_size, default.steps) == ("sgd", 3e-3, 0.9, 96, 2000)
    tiny = protocol_params(spec, "tiny")
    assert tiny.steps == 30 and tiny.batch_size == 16 and tiny.momentum == 0.9


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(UnknownNameError, match="tiy.*Did you mean 'tiny'"):
        protocol_params(get_catalog().protocol("linear"), "tiy")


def test_yaml_params_match_dataclass_defaults():
    from ecamp_bench_plugins.protocols.finetune import FinetuneParams
    from ecamp_bench_plugins.protocols.linear import LinearParams

    cat = get_catalog()
    assert protocol_params(cat.protocol("linear")) == LinearParams()
    assert protocol_params(cat.protocol("finetune")) == FinetuneParams()
