"""The CLI turns user errors into one red line and exit code 2."""

from __future__ import annotations

from ecamp_bench.cli import main


def test_unknown_list_kind_exits_2_with_suggestion(capsys):
    assert main(["list", "taks"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'tasks'?" in err
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "list" in capsys.readouterr().out


def test_module_entry_point_runs_the_cli():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ecamp_bench.cli", "list", "taks"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Did you mean 'tasks'?" in out.stderr
