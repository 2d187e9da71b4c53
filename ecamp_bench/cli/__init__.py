"""The ``ecamp-bench`` command line: one Typer app, one module per command.

Errors that a user can cause (:class:`~ecamp_bench.errors.EcampBenchError`) are printed as one red
line on stderr with exit code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from ecamp_bench.cli import eval as eval_cmd
from ecamp_bench.cli import leaderboard as leaderboard_cmd
from ecamp_bench.cli import data as data_cmd
from ecamp_bench.cli import distill as distill_cmd
from ecamp_bench.cli import list_cmd
from ecamp_bench.cli import pretrain as pretrain_cmd
from ecamp_bench.cli import reproduce as reproduce_cmd
from ecamp_bench.cli import sweep as sweep_cmd
from ecamp_bench.cli import compare as compare_cmd
from ecamp_bench.cli._options import NoPluginOpt, PluginOpt, err_console
from ecamp_bench.errors import EcampBenchError
from ecamp_bench.plugins import set_session_plugin_options

app = typer.Typer(
    name="ecamp-bench",
    help="ECAMP pre-training and the chest X-ray evaluation harness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(plugin: PluginOpt = [], no_plugin: NoPluginOpt = []) -> None:  # noqa: B006 (typer default)
    """ECAMP pre-training and the chest X-ray evaluation harness."""
    set_session_plugin_options(extra_plugins=plugin, blocked=no_plugin)


# Command modules, one per command (group); each exposes a Typer ``app``.
app.add_typer(list_cmd.app)
app.add_typer(data_cmd.app)
app.add_typer(distill_cmd.app)
app.add_typer(eval_cmd.app)
app.add_typer(leaderboard_cmd.app)
app.add_typer(pretrain_cmd.app)
app.add_typer(sweep_cmd.app)
app.add_typer(compare_cmd.app)
app.add_typer(reproduce_cmd.app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="ecamp-bench")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except EcampBenchError as exc:
        err_console().print(f"[bold red]error:[/] {exc}", soft_wrap=True, markup=True)
        return 2
    return 0


def run() -> None:
    """Console-script entry point: ``sys.exit(main())``; a ``torchrun`` worker leaves without finalisation
    (:func:`~ecamp_bench.distributed.exit_torchrun_worker`)."""
    from ecamp_bench.distributed import exit_torchrun_worker, launched_by_torchrun

    code = main()
    if launched_by_torchrun():
        exit_torchrun_worker(code)
    sys.exit(code)
