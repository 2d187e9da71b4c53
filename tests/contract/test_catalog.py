"""The plugin contract, checked for EVERY registered spec with ``ecamp_bench.testing`` on tiny synthetic data."""

from __future__ import annotations

import importlib.util

import pytest

from ecamp_bench.plugins import get_catalog
from ecamp_bench.testing import ContractError, check_backbone, check_layout, check_protocol, check_task

CATALOG = get_catalog()
MM_PROTOCOLS = {"frozen-seg", "finetune-seg", "frozen-det", "det"}


def _has_mmcv_ops() -> bool:
    try:
        return importlib.util.find_spec("mmcv") is not None and importlib.util.find_spec("mmcv.ops") is not None
    except ImportError:
        return False


@pytest.mark.parametrize("name", CATALOG.names("layout"))
def test_layout_contract(name, tmp_path):
    check_layout(CATALOG.layout(name), tmp_path, n=24)


@pytest.mark.parametrize("name", CATALOG.names("task"))
def test_task_contract(name, synthetic_tiny):
    check_task(CATALOG.task(name), synthetic_tiny, CATALOG)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vit", "resnet"])
@pytest.mark.parametrize("name", CATALOG.names("protocol"))
def test_protocol_contract(name, family, synthetic_tiny):
    if name in MM_PROTOCOLS and not _has_mmcv_ops():
        pytest.skip("needs the OpenMMLab stack (mmcv with ops)")
    check_protocol(CATALOG.protocol(name), synthetic_tiny, CATALOG, family=family)


@pytest.mark.parametrize("name", CATALOG.names("backbone"))
def test_backbone_contract(name):
    check_backbone(CATALOG.backbone(name), CATALOG)


def test_a_broken_task_fails_its_contract(synthetic_tiny):
    from dataclasses import replace

    task = CATALOG.task("rsna-cls")
    bad = replace(task, metrics=tuple(replace(m, name="roc") for m in task.metrics))  # declares 'roc', scores 'auc'
    with pytest.raises(ContractError, match="task 'rsna-cls'.*not the primary metric 'roc'"):
        check_task(bad, synthetic_tiny, CATALOG)


def test_a_typo_in_a_reference_fails_when_plugins_load(tmp_path, monkeypatch, capsys):
    from ecamp_bench.cli import main
    from ecamp_bench.plugins import reset_catalog

    plugin = tmp_path / "typo_plugin.py"
    plugin.write_text(
        "from ecamp_bench.api import ProtocolSpec, hookimpl\n"
        "from ecamp_bench_plugins.protocols.linear import LinearParams\n"
        "@hookimpl\n"
        "def ecamp_bench_protocols():\n"
        "    return [ProtocolSpec(name='linear-typo', version=1, kinds=('classification',), params=LinearParams,\n"
        "                         run='ecamp_bench_plugins.protocols.linear:rn')]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_catalog()
    assert main(["--plugin", "typo_plugin", "list"]) != 0
    err = capsys.readouterr().err
    assert "protocol 'linear-typo'" in err and "defines no 'rn'" in err and "protocols.linear:run" in err
