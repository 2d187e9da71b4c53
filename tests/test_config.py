"""Tests of typed configs: YAML loading, --set overrides, dataclass building, canonical JSON and named configs."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from ecamp_bench.config import (
    apply_overrides,
    canonical_json,
    config_sha256,
    from_dict,
    list_configs,
    load_config,
    load_yaml_config,
    resolve_config,
    to_dict,
)
from ecamp_bench.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    schedule: Literal["cosine", "constant"] = "cosine"


@dataclass(frozen=True)
class Train:
    name: str
    epochs: int = 2
    amp: bool = False
    out: Path | None = None
    layers: tuple[int, ...] = (3, 6)
    tags: list[str] = field(default_factory=list)
    optim: Optim = field(default_factory=Optim)


def test_load_yaml_config_reads_mapping_and_names_file_on_errors(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("a: 1\nb: {c: x}\n")
    assert load_yaml_config(good) == {"a": 1, "b": {"c": "x"}}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml_config(empty) == {}
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml.*not valid YAML"):
        load_yaml_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml.*mapping"):
        load_yaml_config(listing)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_yaml_config(tmp_path / "missing.yaml")


def test_apply_overrides_parses_yaml_values_and_never_mutates_input():
    cfg = {"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "name": "x", "amp": False}
    out = apply_overrides(cfg, ["optim.lr=3e-4", "optim.betas=[0.5, 0.6]", "amp=true", "name=hello world"])
    assert out == {"optim": {"lr": 3e-4, "betas": [0.5, 0.6]}, "name": "hello world", "amp": True}
    assert cfg == {"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "name": "x", "amp": False}


def test_apply_overrides_unknown_key_suggests_and_lists_valid_keys():
    cfg = {"optim": {"lr": 0.1, "betas": [0.9, 0.99]}}
    with pytest.raises(ConfigError) as err:
        apply_overrides(cfg, ["optim.lrr=1"])
    message = str(err.value)
    assert "optim.lrr" in message and "Did you mean 'optim.lr'" in message and "optim.betas" in message
    with pytest.raises(ConfigError, match="'optim.lr' is a value"):
        apply_overrides(cfg, ["optim.lr.x=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(cfg, ["optim.lr"])


def test_from_dict_builds_nested_dataclasses_and_converts_loosely():
    cfg = from_dict(Train, {"name": "t", "epochs": 3, "out": "runs/a", "layers": [1, 2], "optim": {"lr": 1}})
    assert cfg == Train(name="t", epochs=3, out=Path("runs/a"), layers=(1, 2), optim=Optim(lr=1.0))
    assert isinstance(cfg.optim.lr, float) and isinstance(cfg.layers, tuple)
    assert to_dict(cfg) == {
        "name": "t", "epochs": 3, "amp": False, "out": "runs/a", "layers": [1, 2], "tags": [],
        "optim": {"lr": 1.0, "betas": [0.9, 0.95], "schedule": "cosine"},
    }
    assert from_dict(Train, to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"name": "t", "epochs": "3"}, "epochs"),
        ({"name": "t", "epochs": True}, "epochs"),
        ({"name": "t", "amp": 1}, "amp"),
        ({"name": 5}, "name"),
        ({"name": "t", "optim": {"schedule": "linear"}}, "optim.schedule"),
        ({"name": "t", "optim": {"betas": [0.9]}}, "optim.betas"),
        ({"name": "t", "layers": [1, "a"]}, "layers[1]"),
        ({"name": "t", "optim": 3}, "optim"),
        ({}, "name"),
    ],
)
def test_from_dict_wrong_types_name_the_dotted_key(data, key):
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        from_dict(Train, data)


def test_from_dict_unknown_key_suggests():
    with pytest.raises(ConfigError, match=r"optim\.lrr.*Did you mean 'optim\.lr'"):
        from_dict(Train, {"name": "t", "optim": {"lrr": 1}})


def test_canonical_json_is_sorted_compact_and_stable():
    obj = {"b": (1, 2.5), "a": {"z": Path("x/y"), "y": 0.1}, "n": np.float32(0.5), "i": np.int64(3)}
    text = canonical_json(obj)
    assert text == '{"a":{"y":0.1,"z":"x/y"},"b":[1,2.5],"i":3,"n":0.5}'
    assert canonical_json({"a": {"y": 0.1, "z": "x/y"}, "b": [1, 2.5], "n": 0.5, "i": 3}) == text
    assert config_sha256(obj) == hashlib.sha256(text.encode()).hexdigest()
    assert config_sha256(Train(name="t")) == config_sha256(to_dict(Train(name="t")))
    assert config_sha256(Train(name="t")) != config_sha256(Train(name="u"))
    assert json.loads(canonical_json(Train(name="t")))["optim"]["betas"] == [0.9, 0.95]
    with pytest.raises(ValueError, match="non-finite"):
        canonical_json({"a": float("nan")})


def test_resolve_config_searches_env_root_and_lists_configs(tmp_path, monkeypatch):
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "tiny_cpu.yaml").write_text("name: tiny\n")
    (tmp_path / "pretrain" / "paper.yaml").write_text("name: paper\n")
    monkeypatch.setenv("ECAMP_BENCH_CONFIGS", str(tmp_path))
    assert resolve_config("pretrain", "tiny_cpu") == tmp_path / "pretrain" / "tiny_cpu.yaml"
    assert {"paper", "tiny_cpu"} <= set(list_configs("pretrain"))
    with pytest.raises(UnknownNameError) as err:
        resolve_config("pretrain", "tiny-cpu")
    assert "unknown pretrain config 'tiny-cpu'. Did you mean 'tiny_cpu'" in str(err.value)
    assert "paper" in str(err.value)
    explicit = tmp_path / "elsewhere.yaml"
    explicit.write_text("name: e\n")
    assert resolve_config("pretrain", str(explicit)) == explicit


def test_load_config_fills_defaults_then_applies_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("name: t\noptim:\n  lr: 0.5\n")
    cfg = load_config(Train, path, ["optim.schedule=constant", "epochs=7"])
    assert cfg == Train(name="t", epochs=7, optim=Optim(lr=0.5, schedule="constant"))
    with pytest.raises(ConfigError, match=r"train.yaml.*epochs"):
        load_config(Train, path, ["epochs=many"])
    with pytest.raises(ConfigError, match=r"train.yaml.*Did you mean 'epochs'"):
        load_config(Train, path, ["epoch=3"])
