"""Shared CLI state, option aliases and output helpers used by every command module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ecamp_bench.plugins import Catalog, get_catalog


# Width of tables written to a file or pipe (a plain log) when $COLUMNS does not say: rich's 80 columns cut the
# sweep and compare summaries to "…" in logs.
LOG_WIDTH = 160


def _width(stderr: bool) -> int | None:
    import os

    probe = Console(stderr=stderr)
    return None if probe.is_terminal or os.environ.get("COLUMNS") else LOG_WIDTH


def console() -> Console:
    """The console for normal output (stdout, looked up at print time so captures work); :data:`LOG_WIDTH`
    columns when stdout is not a terminal and ``$COLUMNS`` is unset."""
    return Console(highlight=False, width=_width(False))


def err_console() -> Console:
    """The console for errors and progress (stderr), sized as :func:`console`."""
    return Console(stderr=True, highlight=False, width=_width(True))


def catalog() -> Catalog:
    """The plugin catalog for this invocation's plugin options (set by the top-level ``--plugin`` callback)."""
    return get_catalog()


def renamed_option(value, old_value, default, *, option: str, old: str, command: str):
    """The value of ``option``, or of ``old`` (its former, hidden spelling: one warning line on stderr), else
    ``default``. Both at once is a :class:`~ecamp_bench.errors.ConfigError`."""
    from ecamp_bench.errors import ConfigError

    if old_value is None:
        return default if value is None else value
    if value is not None:
        raise ConfigError(f"{command}: give {option} only ({old} is its former name)")
    err_console().print(f"warning: `{command} {old}` is deprecated, use {option} (same values)", soft_wrap=True)
    return old_value


PluginOpt = Annotated[
    list[str], typer.Option("--plugin", "-p", help="Also load this plugin module (import path); repeatable.")
]
NoPluginOpt = Annotated[list[str], typer.Option("--no-plugin", help="Block the plugin with this entry-point name.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (everything derived from it is deterministic).")]

# Options shared by `eval` and `sweep` (one definition each, so their names and help never drift apart).
ProtocolOpt = Annotated[str | None, typer.Option("--protocol", help="Protocol (default: each task's first).")]
DataRootOpt = Annotated[Path | None, typer.Option("--data-root", help="Dataset root (default: the synthetic default).")]
PresetOpt = Annotated[
    str,
    typer.Option("--preset", help="Protocol preset: default (published values), a named preset of the protocol (tiny; "
                 "finetune also cpu-demo; `ecamp-bench list protocols NAME` shows each), or a YAML file of param "
                 "overrides."),
]
OverridesOpt = Annotated[
    list[str], typer.Option("--set", help="Override a config key for every run, e.g. protocol.lr=1e-3; repeatable.")
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="torch device: auto (CUDA when available, else CPU), cpu, cuda, cuda:1, mps.")
]
NumWorkersOpt = Annotated[int, typer.Option("--num-workers", help="DataLoader worker processes.")]
SplitOpt = Annotated[
    str | None,
    typer.Option("--split", help="Evaluate on a published split: mrm, ecamp, benchx (their lists for the task, below "
                 "--splits-root) or a folder of train/val/test lists. Default: our own seeded split."),
]
SplitsRootOpt = Annotated[
    Path | None,
    typer.Option("--splits-root", help="Folder holding the published lists as released (MRM/, ECAMP/, BenchX/); "
                 "default: $ECAMP_BENCH_SPLITS."),
]
AllowOverlapOpt = Annotated[
    bool,
    typer.Option("--allow-split-overlap", help="Evaluate on published lists that share images between train, val "
                 "and test (the record carries the counts)."),
]
RecipeOpt = Annotated[
    str | None,
    typer.Option("--recipe", help="A paper's hyper-parameters per task and fraction (`ecamp-bench list recipes`), "
                 "applied over the protocol's defaults, under --preset and --set; its published split applies unless "
                 "--split "
                 "(--split ours: our own split)."),
]
