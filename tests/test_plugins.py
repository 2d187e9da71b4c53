"""Plugin discovery and the loud catalog: entry points, --plugin/--no-plugin, duplicates, typos, failures.

The third-party example (tests/fixtures/thirdparty_plugin) is registered through a real entry point: a
``*.dist-info`` folder with ``entry_points.txt`` on ``sys.path``, which ``importlib.metadata`` discovers
exactly as it discovers an installed distribution. Misbehaving plugins live in tests/fixtures/test_plugins
and are loaded with ``extra_plugins`` (what ``--plugin`` does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecamp_bench.errors import PluginError, UnknownNameError
from ecamp_bench.plugins import load_catalog

FIXTURES = Path(__file__).parent / "fixtures"
TESTPLUGINS = "ecamp_bench_testplugins"


def install_thirdparty(site: Path, monkeypatch: pytest.MonkeyPatch, *, version: str = "1.2.3") -> None:
    """Make the example distribution importable and discoverable through its ``ecamp_bench`` entry point."""
    dist_info = site / f"ecamp_bench_thirdparty-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ecamp-bench-thirdparty\nVersion: {version}\n")
    (dist_info / "entry_points.txt").write_text("[ecamp_bench]\nthirdparty = ecamp_bench_thirdparty.plugin\n")
    monkeypatch.syspath_prepend(str(FIXTURES / "thirdparty_plugin"))
    monkeypatch.syspath_prepend(str(site))


@pytest.fixture
def thirdparty(tmp_path, monkeypatch):
    """The example third-party plugin, installed through an entry point for this test only."""
    install_thirdparty(tmp_path / "site", monkeypatch)


@pytest.fixture
def testplugins(monkeypatch):
    """Make the misbehaving plugin modules importable (they are never installed)."""
    monkeypatch.syspath_prepend(str(FIXTURES / "test_plugins"))


def test_thirdparty_entry_point_is_discovered_with_its_provider(thirdparty):
    catalog = load_catalog(autoload=True)
    assert "thirdparty-vit-tiny" in catalog.names("backbone")
    assert {"thirdparty-layout"} <= set(catalog.names("layout"))
    assert catalog.task("thirdparty-task").layout == "thirdparty-layout"
    provider = catalog.provider("backbone", "thirdparty-vit-tiny")
    assert (provider.plugin, provider.dist, provider.version) == ("thirdparty", "ecamp-bench-thirdparty", "1.2.3")
    assert provider.path.endswith(str(Path("ecamp_bench_thirdparty") / "plugin.py"))
    assert provider.dist_version == "ecamp-bench-thirdparty==1.2.3"
    assert catalog.provider("protocol", "thirdparty-probe") == provider
    assert not catalog.failures


def test_disabled_autoload_hides_thirdparty_but_keeps_own_plugins(thirdparty, monkeypatch):
    monkeypatch.setenv("ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    catalog = load_catalog()
    assert "thirdparty-vit-tiny" not in catalog.names("backbone")
    assert all(p.dist != "ecamp-bench-thirdparty" for p in catalog.plugins)
    monkeypatch.delenv("ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD")
    assert "thirdparty-vit-tiny" in load_catalog().names("backbone")


def test_extra_plugin_module_loads_without_installation(testplugins, monkeypatch):
    catalog = load_catalog(autoload=False, extra_plugins=[f"{TESTPLUGINS}.extra_backbone"])
    assert "testplugin-extra-vit" in catalog.names("backbone")
    provider = catalog.provider("backbone", "testplugin-extra-vit")
    assert provider.plugin == f"{TESTPLUGINS}.extra_backbone" and provider.dist is None
    monkeypatch.setenv("ECAMP_BENCH_PLUGINS", f"{TESTPLUGINS}.extra_backbone")
    assert "testplugin-extra-vit" in load_catalog(autoload=False).names("backbone")


def test_blocked_plugin_is_not_loaded(thirdparty, testplugins):
    catalog = load_catalog(autoload=True, blocked=["thirdparty"])
    assert "thirdparty-vit-tiny" not in catalog.names("backbone")
    module = f"{TESTPLUGINS}.extra_backbone"
    assert "testplugin-extra-vit" not in load_catalog(autoload=False, extra_plugins=[module], blocked=[module]).names(
        "backbone"
    )


def test_same_module_through_entry_point_and_extra_plugin_is_loaded_once(thirdparty):
    catalog = load_catalog(autoload=True, extra_plugins=["ecamp_bench_thirdparty.plugin"])
    assert "thirdparty-vit-tiny" in catalog.names("backbone") and not catalog.failures


def test_duplicate_name_across_plugins_names_both_providers(thirdparty, testplugins):
    with pytest.raises(PluginError) as err:
        load_catalog(autoload=True, extra_plugins=[f"{TESTPLUGINS}.duplicate_backbone"])
    message = str(err.value)
    assert "duplicate backbone name 'thirdparty-vit-tiny'" in message
    assert "ecamp-bench-thirdparty-1.2.3" in message and f"{TESTPLUGINS}.duplicate_backbone" in message


def test_unknown_name_suggests_the_closest_and_lists_valid_names(thirdparty):
    catalog = load_catalog(autoload=True)
    with pytest.raises(UnknownNameError) as err:
        catalog.backbone("thirdparty-vit-tny")
    message = str(err.value)
    assert "Did you mean 'thirdparty-vit-tiny'?" in message
    assert all(name in message for name in catalog.names("backbone"))
    with pytest.raises(UnknownNameError, match="thirdparty-probe"):
        catalog.protocol("thirdparty-prob")


def test_plugin_failing_at_import_is_recorded_and_breaks_nothing_else(thirdparty, testplugins):
    broken = f"{TESTPLUGINS}.broken_import"
    catalog = load_catalog(autoload=True, extra_plugins=[broken, f"{TESTPLUGINS}.extra_backbone"])
    assert [f.plugin for f in catalog.failures] == [broken]
    assert "RuntimeError" in catalog.failures[0].error and "broken on purpose" in catalog.failures[0].error
    assert {"thirdparty-vit-tiny", "testplugin-extra-vit"} <= set(catalog.names("backbone"))
    # asking for a name that is missing mentions the failed plugin, since the name may have come from it
    with pytest.raises(PluginError, match="broken_import"):
        catalog.backbone("from-the-broken-plugin")


def test_hook_raising_at_call_time_is_recorded(thirdparty, testplugins):
    catalog = load_catalog(autoload=True, extra_plugins=[f"{TESTPLUGINS}.hook_raises"])
    assert [f.plugin for f in catalog.failures] == [f"{TESTPLUGINS}.hook_raises"]
    assert "protocol table unavailable" in catalog.failures[0].error
    assert "thirdparty-probe" in catalog.names("protocol")


@pytest.mark.parametrize(
    ("module", "missing", "suggestion"),
    [("dangling_layout", "layout 'thirdparty-layuot'", "thirdparty-layout"),
     ("dangling_protocol", "protocol 'thirdparty-prob'", "thirdparty-probe")],
)
def test_task_with_unknown_layout_or_protocol_is_an_error(thirdparty, testplugins, module, missing, suggestion):
    with pytest.raises(PluginError) as err:
        load_catalog(autoload=True, extra_plugins=[f"{TESTPLUGINS}.{module}"])
    message = str(err.value)
    assert missing in message and f"Did you mean '{suggestion}'?" in message and f"{TESTPLUGINS}.{module}" in message


def test_misspelled_hook_is_an_error(testplugins):
    with pytest.raises(PluginError, match=r"unknown hook.*ecamp_bench_backbone\b.*misspelled_hook"):
        load_catalog(autoload=False, extra_plugins=[f"{TESTPLUGINS}.misspelled_hook"])


def test_loading_the_built_in_plugins_imports_neither_torch_nor_timm():
    """Plugin modules hold their code (a protocol's ``run``, a release's adapter) but import the heavy libraries only
    inside those functions, so ``ecamp-bench list`` and every catalog load stay cheap (the hook contract)."""
    import os
    import subprocess
    import sys

    code = ("import sys; from ecamp_bench.plugins import load_catalog; c = load_catalog(); "
            "assert c.names('protocol') and c.names('backbone'); print('torch' in sys.modules, 'timm' in sys.modules)")
    env = {**os.environ, "ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "False"]
