"""Tables printed into a plain log (stdout not a terminal, $COLUMNS unset) are not cut to 80 columns."""

from __future__ import annotations

from rich.table import Table

from ecamp_bench.cli import _options


def _table() -> Table:
    table = Table()
    for name in ("task", "protocol", "backbone", "fraction", "seed", "auc", "ci95", "status"):
        table.add_column(name)
    table.add_row("nih-cxr14-cls", "linear", "file:ecamp-cpu-demo-mae-only-2528b08f", "100%", "0", "0.512",
                  "[0.493, 0.531]", "ok")
    return table


def test_a_log_gets_the_whole_table(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    _options.console().print(_table())
    out = capsys.readouterr().out
    assert "file:ecamp-cpu-demo-mae-only-2528b08f" in out and "[0.493, 0.531]" in out and "…" not in out


def test_columns_still_rule(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "60")
    _options.console().print(_table())
    assert "file:ecamp-cpu-demo-mae-only-2528b08f" not in capsys.readouterr().out
