"""`ecamp-bench list`: third-party plugins with their providers, plugin switches, errors and laziness."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ecamp_bench.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures"
TESTPLUGINS = "ecamp_bench_testplugins"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """Rich tables wrap at 80 columns without a terminal; keep rows on one line for the assertions."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def thirdparty(tmp_path, monkeypatch):
    """The example third-party distribution, discoverable through its entry point, with autoload on."""
    dist_info = tmp_path / "site" / "ecamp_bench_thirdparty-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ecamp-bench-thirdparty\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text("[ecamp_bench]\nthirdparty = ecamp_bench_thirdparty.plugin\n")
    monkeypatch.syspath_prepend(str(FIXTURES / "thirdparty_plugin"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)


@pytest.fixture
def testplugins(monkeypatch):
    """Make the misbehaving plugin modules importable for ``--plugin``."""
    monkeypatch.syspath_prepend(str(FIXTURES / "test_plugins"))


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f" {name} " in line)


def test_list_shows_thirdparty_items_with_provider(thirdparty, capsys):
    assert main(["list", "backbones"]) == 0
    row = _row(capsys.readouterr().out, "thirdparty-vit-tiny")
    assert "thirdparty (ecamp-bench-thirdparty-1.2.3) at " in row and "vit_tiny_patch16_224" in row
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("thirdparty-task", "thirdparty-probe", "thirdparty-layout"):
        assert "ecamp-bench-thirdparty-1.2.3" in _row(out, name)
    assert "ecamp-bench-thirdparty-1.2.3" in _row(out, "thirdparty")  # the plugins table


def test_autoload_switch_hides_thirdparty(thirdparty, monkeypatch, capsys):
    monkeypatch.setenv("ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert main(["list"]) == 0
    assert "thirdparty" not in capsys.readouterr().out


def test_no_plugin_blocks_and_plugin_loads_a_module(thirdparty, testplugins, capsys):
    assert main(["--no-plugin", "thirdparty", "list", "backbones"]) == 0
    assert "thirdparty-vit-tiny" not in capsys.readouterr().out
    assert main(["--plugin", f"{TESTPLUGINS}.extra_backbone", "list", "backbones"]) == 0
    row = _row(capsys.readouterr().out, "testplugin-extra-vit")
    assert f"{TESTPLUGINS}.extra_backbone at " in row


def test_list_one_item_and_unknown_name_exit_2_with_suggestion(thirdparty, capsys):
    assert main(["list", "backbones", "thirdparty-vit-tiny"]) == 0
    assert "thirdparty-vit-tiny" in capsys.readouterr().out
    assert main(["list", "backbones", "thirdparty-vit-tny"]) == 2
    captured = capsys.readouterr()
    assert "unknown backbone 'thirdparty-vit-tny'" in captured.err
    assert "Did you mean 'thirdparty-vit-tiny'?" in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_duplicate_name_exits_2_naming_both_providers(thirdparty, testplugins, capsys):
    assert main(["--plugin", f"{TESTPLUGINS}.duplicate_backbone", "list"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # undo rich's line wrapping
    assert "duplicate backbone name 'thirdparty-vit-tiny'" in err
    assert "ecamp-bench-thirdparty-1.2.3" in err and f"{TESTPLUGINS}.duplicate_backbone" in err


def test_broken_plugin_is_listed_as_failed_and_the_rest_still_lists(thirdparty, testplugins, capsys):
    assert main(["--plugin", f"{TESTPLUGINS}.broken_import", "list"]) == 0
    out = capsys.readouterr().out
    assert f"plugin '{TESTPLUGINS}.broken_import' (module) failed to load: RuntimeError" in out
    assert "broken on purpose [test]" in out  # square brackets survive rich markup
    assert "thirdparty-vit-tiny" in out


def test_list_does_not_import_heavy_libraries(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from ecamp_bench.cli import main
        code = main(["list"])
        heavy = sorted(m for m in ("torch", "torchvision", "timm", "transformers", "mmdet", "mmseg", "mmengine")
                       if m in sys.modules)
        print("HEAVY", heavy, "CODE", code)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**_clean_env(), "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY [] CODE 0" in result.stdout, result.stdout[-2000:]


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


def test_list_backbones_shows_what_is_built_and_the_users_files_uncut_at_80_columns(monkeypatch, capsys, tmp_path):
    from _backbones import export_tiny_backbone
    from ecamp_bench.paths import pretrained_dir

    export_tiny_backbone("ecamp-cpu-demo-mae-only-2528b08f")
    (pretrained_dir() / "my_own_vit.pth").write_bytes(b"PK\x03\x04")
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list", "backbones"]) == 0
    narrow = capsys.readouterr().out
    assert "…" not in narrow and "your weight files in" in narrow  # long names wrap, nothing is cut off
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["list", "backbones"]) == 0
    out = capsys.readouterr().out
    # random-init builds the architecture of the newest file, not the registered ViT-S/16 fallback
    assert "builds vit_tiny_patch16_224 depth=2 embed_dim=32 num_heads=2 32px (random init, architecture of " \
           "ecamp-cpu-demo-mae-only-2528b08f.safetensors)" in _row(out, "random-init")
    assert "vit_tiny_patch16_224 depth=2" in _row(out, "file:ecamp-cpu-demo-mae-only-2528b08f")
    assert "my_own_vit.pth" in _row(out, "--backbone timm:ARCH --weights")
    assert "--backbone timm:ARCH --weights PATH" in out


def test_a_version_column_only_for_kinds_that_have_versions(capsys):
    """Tasks and protocols carry versions (they enter the run key); backbones have none: no empty column."""
    def header(kind: str) -> list[str]:
        assert main(["list", kind]) == 0
        line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("┃"))
        return [cell.strip() for cell in line.strip("┃").split("┃")]

    assert header("tasks")[:2] == ["name", "version"]
    assert header("protocols")[:2] == ["name", "version"]
    assert header("backbones")[:3] == ["name", "provider", "details"]
