"""``ecamp-bench sweep``: run a grid of evaluations, resumably, with a live view of the grid.

Rows of the live view are protocol × backbone, columns are task × fraction, and each cell shows one mark
per seed: ``✓`` finished earlier or now, ``▶`` running, ``✗`` failed, ``·`` still to run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ecamp_bench.cli._cluster import (
    ClusterConfigOpt, CpusOpt, ExecutorOpt, GpusOpt, MemOpt, PartitionOpt, RetriesOpt, TimeOpt, cluster_from_cli,
)
from ecamp_bench.cli._options import (
    AllowOverlapOpt, DataRootOpt, DeviceOpt, NumWorkersOpt, OverridesOpt, PresetOpt, ProtocolOpt, SplitOpt,
    SplitsRootOpt, RecipeOpt, catalog, console, err_console,
)

app = typer.Typer()

MARKS = {"pending": "[dim]·[/]", "running": "[bold yellow]▶[/]", "done": "[green]✓[/]", "ok": "[bold green]✓[/]",
         "failed": "[bold red]✗[/]"}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class SweepDisplay:
    """A rich ``Live`` view of the grid on stderr, one log line per finished cell, and the running phase."""

    def __init__(self, shard: str) -> None:
        self.console = err_console()
        self.shard = shard
        self.results: Sequence = []
        self.phase = ""
        self.t0 = time.perf_counter()
        self.live = None
        self.progress = self
        self.running_label = ""

    def render(self):
        """The grid table plus a status line (called by ``Live`` on every refresh)."""
        from rich.console import Group
        from rich.table import Table

        from ecamp_bench.leaderboard.aggregate import format_fraction
        from ecamp_bench.sweep.grid import short_backbone
        from ecamp_bench.sweep.runner import eta_seconds

        columns = sorted({(r.cell.task, r.cell.fraction) for r in self.results})
        rows = sorted({(r.cell.protocol, r.cell.backbone) for r in self.results})
        marks: dict[tuple, list[str]] = {}
        for r in sorted(self.results, key=lambda r: r.cell):
            key = (r.cell.protocol, r.cell.backbone, r.cell.task, r.cell.fraction)
            marks.setdefault(key, []).append(MARKS[r.state.value])
        table = Table(title=f"sweep{self.shard}", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("protocol")
        table.add_column("backbone", no_wrap=True)
        for task, fraction in columns:
            table.add_column(f"{task}\n{format_fraction(fraction)}", justify="center")
        for protocol, backbone in rows:
            cells = ["".join(marks.get((protocol, backbone, t, f), ["—"])) for t, f in columns]
            table.add_row(protocol, short_backbone(backbone), *cells)
        counts = {s: sum(r.state.value == s for r in self.results) for s in MARKS}
        status = (
            f"done {counts['done'] + counts['ok']} ({counts['done']} before this sweep) · "
            f"running {counts['running']} · failed {counts['failed']} · remaining {counts['pending']} · "
            f"elapsed {_clock(time.perf_counter() - self.t0)}"
            f" · ETA {_clock(eta_seconds(self.results))}"
        )
        return Group(table, status, f"[dim]{self.phase}[/]" if self.phase else "")

    @contextmanager
    def running(self) -> Iterator[None]:
        """Show the live view while the body runs (log lines of any library printed above it, never through it)."""
        from rich.live import Live

        with logs_through(self.console), \
                Live(console=self.console, get_renderable=self.render, refresh_per_second=2, transient=False) as live:
            self.live = live
            yield
        self.live = None

    def planned(self, results: Sequence) -> None:
        """Keep the (mutable) result list the view renders."""
        self.results = results

    def started(self, result) -> None:
        """Name the running cell."""
        self.phase = f"running {result.cell.label}"
        self.running_label = result.cell.label

    def finished(self, result) -> None:
        """One log line per finished cell (kept in the scrollback and in non-terminal logs)."""
        self.phase = ""
        value = f"{result.value:.3f}" if isinstance(result.value, float) else "—"
        if result.state.value == "failed":
            self.console.print(f"[red]✗ {escape(result.cell.label)}[/]: {escape(str(result.error))}", soft_wrap=True)
        else:
            self.console.print(f"✓ {result.cell.label}: {value} in {result.wall_s:.1f} s", soft_wrap=True, markup=False)
            if getattr(result, "note", None):  # a record reused from another device (it is said, never silent)
                self.console.print(f"  {result.note}", soft_wrap=True, markup=False)

    @contextmanager
    def bar(self, description: str, total: int | None) -> Iterator:
        """A phase of the running cell (feature extraction, training), shown under the grid; where stderr is not
        a terminal (CI, SLURM logs) also as plain progress lines (:mod:`ecamp_bench.progress`)."""
        from ecamp_bench.progress import Progress

        done = [0]
        self.phase = description
        if self.console.is_terminal:
            def advance(n: int = 1) -> None:
                done[0] += n
                self.phase = f"{description} {done[0]}/{total if total is not None else '?'}"

            yield advance
            return
        with Progress(interactive=False, prefix=self.running_label).bar(description, total) as phase:
            yield phase

    def log(self, message: str) -> None:
        """A dim informational line from the running cell."""
        self.console.print(f"[dim]{message}[/]", soft_wrap=True)


class _ConsoleStream:
    """A text stream whose complete lines are printed through a rich console (above a ``Live`` display)."""

    def __init__(self, console) -> None:
        self.console, self.pending = console, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.write("\n")


@contextmanager
def logs_through(console) -> Iterator[None]:
    """While the body runs, every logging handler that writes to the terminal (mmengine's ``MMLogger`` binds its
    handler to ``sys.stdout`` when it is created, before any live display) writes through ``console`` instead, so a
    library's WARNING line lands above the sweep's status line instead of inside it. Restored afterwards."""
    import logging
    import sys

    terminal = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None}
    stream = _ConsoleStream(console)
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values()
                                      if isinstance(v, logging.Logger))]
    swapped = []
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and id(handler.stream) in terminal:
                swapped.append((handler, handler.setStream(stream)))
    try:
        yield
    finally:
        stream.flush()
        for handler, previous in swapped:
            handler.setStream(previous)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (SLURM time limit, ``scancel``, ``kill``) into KeyboardInterrupt, for a clean summary."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def default_backbones() -> str:
    """``random-init`` plus the newest backbone file in ``pretrained/`` (when there is one)."""
    from ecamp_bench.models.backbone_refs import newest_pretrained

    newest = newest_pretrained()
    return "random-init" + (f",file:{newest}" if newest is not None else "")


@app.command("sweep")
def sweep_command(
    tasks: Annotated[str, typer.Option("--tasks", help="'all' or a comma list of task names.")] = "all",
    fractions: Annotated[
        str, typer.Option("--fractions", help="Comma list: 0.01,0.1,1 or 1%,10%,100%.")
    ] = "0.01,0.1,1",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma list or range: 0,1,2 or 0-4.")] = "0,1,2",
    backbones: Annotated[
        str | None,
        typer.Option("--backbones", help="Comma list (random-init, file:PATH or file:GLOB, timm:ARCH, names). "
                     "Default: random-init + newest in pretrained/."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Local checkpoint filling the timm:ARCH backbones of --backbones.")
    ] = None,
    protocol: ProtocolOpt = None,
    preset: PresetOpt = "default",
    shard: Annotated[
        str | None, typer.Option("--shard", help="Run only shard I/N of the grid (0-based I), e.g. for SLURM arrays.")
    ] = None,
    data_root: DataRootOpt = None,
    overrides: OverridesOpt = [],  # noqa: B006
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run",
                                          help="List this shard's cells and their state; run nothing.")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Show each cell's state from its record, claim and job; run nothing.")] = False,
    executor: ExecutorOpt = None,
    cluster_config: ClusterConfigOpt = None,
    partition: PartitionOpt = None,
    time_min: TimeOpt = None,
    gpus_per_node: GpusOpt = None,
    cpus_per_task: CpusOpt = None,
    mem_gb: MemOpt = None,
    retries: RetriesOpt = None,
    max_running: Annotated[
        int | None,
        typer.Option("--max-running", help="Jobs in flight at once (default: 2 for local, no limit for slurm)."),
    ] = None,
    jobs: Annotated[
        str,
        typer.Option("--jobs", help="cell: one job per cell (a group's first cell fills the caches first); "
                     "group: one job per (task, backbone)."),
    ] = "cell",
    poll: Annotated[
        float | None, typer.Option("--poll", help="Seconds between two looks at the submitted jobs (default 10).")
    ] = None,
    split: SplitOpt = None,
    recipe: RecipeOpt = None,
    splits_root: SplitsRootOpt = None,
    allow_split_overlap: AllowOverlapOpt = False,
) -> None:
    """Run a grid of evaluations; finished cells are skipped, failures are recorded and summarised (exit 1)."""
    from ecamp_bench.distributed import launched_by_torchrun
    from ecamp_bench.errors import ConfigError

    if launched_by_torchrun():
        raise ConfigError(
            "sweep does not run under torchrun: launch each cell with `torchrun ... -m ecamp_bench.cli eval` "
            "(list them with `sweep --dry-run`), or split the grid over independent workers with --shard I/N"
        )
    from ecamp_bench.sweep.grid import (check_backbones, expand_backbone_globs, expand_grid, parse_fractions,
                                        parse_seeds, resolve_tasks, split_list)
    from ecamp_bench.sweep.runner import SweepSettings, plan_cells, run_sweep
    from ecamp_bench.sweep.shard import parse_shard, shard_cells

    # a local sweep runs here: a device that is not here fails now (a cluster's nodes check their own)
    if executor is None:
        from ecamp_bench.distributed import check_device

        check_device(device)
    cat = catalog()
    pairs, skipped = resolve_tasks(cat, tasks, protocol)
    for item in skipped:
        err_console().print(f"[yellow]not swept[/] {item.task}: {item.reason}", soft_wrap=True)
    backbone_refs = expand_backbone_globs(split_list(backbones or default_backbones(), "backbones"))
    check_backbones(cat, backbone_refs, weights)
    grid = expand_grid(pairs, backbone_refs, parse_fractions(fractions), parse_seeds(seeds))
    index, count = parse_shard(shard)
    cells = shard_cells(grid, index, count)
    shard_text = f" shard {index}/{count}: {len(cells)} of {len(grid)} cells" if count > 1 else f": {len(cells)} cells"
    settings = SweepSettings(data_root=data_root, preset=preset, overrides=tuple(overrides), device=device,
                             num_workers=num_workers, split=split, splits_root=splits_root,
                             allow_split_overlap=allow_split_overlap, weights=weights, recipe=recipe)
    if dry_run:
        for result in plan_cells(cells, settings, cat):
            console().print(
                f"{result.state.value:8} {result.cell.label}  {result.path or result.error}", soft_wrap=True,
                markup=False,
            )
        return
    if status:
        _print_status(cells, settings, cat)
        return
    display = SweepDisplay(shard_text)
    if executor is not None:
        from ecamp_bench.plugins import session_plugin_options
        from ecamp_bench.sweep.executor import run_on_executor

        options = cluster_from_cli(executor, cluster_config, partition=partition, time_min=time_min,
                                   gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task, mem_gb=mem_gb,
                                   retries=retries, max_running=max_running, poll_s=poll)
        with sigterm_as_interrupt(), display.running():
            summary = run_on_executor(cells, settings, cat, options, display, jobs=jobs,
                                      plugins=session_plugin_options())
    else:
        with sigterm_as_interrupt(), display.running():
            summary = run_sweep(cells, settings, cat, display)
    _print_summary(summary)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failures:
        raise typer.Exit(1)


def _print_status(cells, settings, cat) -> None:
    from rich.table import Table

    from ecamp_bench.sweep.executor import status_counts, sweep_status

    rows = sweep_status(cells, settings, cat)
    colours = {"done": "green", "failed": "red", "running": "yellow", "queued": "cyan", "pending": "dim"}
    table = Table(show_edge=False, pad_edge=False)
    for column in ("cell", "state", "job (id, executor, attempt)", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column == "cell")
    for row in rows:
        table.add_row(escape(row.cell.label), f"[{colours[row.state]}]{row.state}[/]", row.job or "—",
                      escape(row.detail))
    out = console()
    out.print(table)
    out.print(" · ".join(f"{state} {n}" for state, n in status_counts(rows).items()), soft_wrap=True)


def _print_summary(summary) -> None:
    from ecamp_bench.sweep.runner import CellState

    out = console()
    ran, before = summary.count(CellState.OK), summary.count(CellState.DONE)
    out.print(
        f"sweep: {ran} run, {before} already done, {len(summary.failures)} failed, "
        f"{summary.count(CellState.PENDING)} not run, in {summary.wall_s:.1f} s",
        soft_wrap=True,
    )
    for failure in summary.failures:
        where = f" (record: {failure.path})" if failure.path is not None and failure.path.exists() else ""
        out.print(f"[red]failed[/] {escape(failure.cell.label)}: {escape(str(failure.error) + where)}", soft_wrap=True)
    if summary.interrupted:
        out.print("interrupted: finished records are kept; run the same command again to resume", soft_wrap=True)
