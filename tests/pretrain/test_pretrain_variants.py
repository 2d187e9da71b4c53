"""Named pre-training variants (ablations): what each sets, the run name, unknown names."""

from __future__ import annotations

import pytest

from ecamp_bench.errors import ConfigError, UnknownNameError
from ecamp_bench.pretrain.config import load_pretrain_config
from ecamp_bench.pretrain.variants import list_variants, load_variant, variant_overrides

BUILT_IN = ("mae-only", "no-context", "no-mlm", "no-sr", "random-sr-window", "uniform-masking")


def config_of(variant, *extra):
    return load_pretrain_config("cpu-small", [*variant_overrides("cpu-small", variant), *extra])


def test_every_built_in_variant_loads_and_changes_the_config():
    assert set(BUILT_IN) <= set(list_variants())
    full = config_of(None)
    for name in BUILT_IN:
        cfg = config_of(name)
        assert cfg.name == f"cpu-small-{name}" and load_variant(name).description
        assert cfg.model != full.model or cfg.text != full.text or cfg.sr != full.sr, name


def test_what_the_variants_switch_off():
    assert config_of("mae-only").model.loss_weights == {"mim": 1.0, "sr": 0.0, "mlm": 0.0}
    assert config_of("no-sr").model.loss_weights == {"mim": 1.0, "sr": 0.0, "mlm": 1.0}
    assert config_of("no-mlm").model.loss_weights["mlm"] == 0.0 and config_of("no-mlm").sr.rule == "random"
    assert config_of("no-context").text.masking.context_prob == 0.0
    assert config_of("random-sr-window").sr.rule == "random"
    masking = config_of("uniform-masking").text.masking
    assert masking.entity_mask_prob == masking.other_mask_prob == masking.no_entity_mask_prob
    assert masking.context_window == 0 and masking.boilerplate_weight == 1.0
    assert config_of(None).name == config_of("full").name == "cpu-small"


def test_user_overrides_come_after_the_variant():
    assert config_of("random-sr-window", "sr.rule=full").sr.rule == "full"


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="mae-only") as info:
        load_variant("mae-onyl")
    assert "Did you mean 'mae-only'" in str(info.value)


def test_a_malformed_variant_file_names_its_key(tmp_path, monkeypatch):
    folder = tmp_path / "pretrain-variants"
    folder.mkdir()
    (folder / "broken.yaml").write_text("description: x\nset: []\n")
    monkeypatch.setenv("ECAMP_BENCH_CONFIGS", str(tmp_path))
    with pytest.raises(ConfigError, match="'set'"):
        load_variant("broken")
