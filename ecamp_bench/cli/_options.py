"""Shared CLI state, option aliases and output helpers used by every command module."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ecamp_bench.plugins import Catalog, get_catalog


def console() -> Console:
    """The console for normal output (stdout, looked up at print time so captures work)."""
    return Console(highlight=False)


def err_console() -> Console:
    """The console for errors and progress (stderr)."""
    return Console(stderr=True, highlight=False)


def catalog() -> Catalog:
    """The plugin catalog for this invocation's plugin options (set by the top-level ``--plugin`` callback)."""
    return get_catalog()


PluginOpt = Annotated[
    list[str], typer.Option("--plugin", "-p", help="Also load this plugin module (import path); repeatable.")
]
NoPluginOpt = Annotated[list[str], typer.Option("--no-plugin", help="Block the plugin with this entry-point name.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (everything derived from it is deterministic).")]
