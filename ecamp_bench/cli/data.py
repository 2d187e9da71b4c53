"""``ecamp-bench data synth`` (write the synthetic default) and ``ecamp-bench data check`` (validate a tree)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecamp_bench.cli._options import SeedOpt, catalog, console, err_console, renamed_option

app = typer.Typer(name="data", help="Synthetic data generation and dataset checks.", no_args_is_help=True)


@app.command("synth")
def synth(
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: the synthetic default root).")
    ] = None,
    size: Annotated[str | None, typer.Option(
        "--size", help="Synthetic size: tiny (tests, seconds), small (the default data when no --data-root is "
        "given), medium (larger CPU experiments), demo (make demo on a CPU: every test set >= 500 images) or "
        "gpu-demo (make demo on a GPU: more pre-training studies, 448-px images). Default: small.")] = None,
    preset: Annotated[str | None, typer.Option("--preset", hidden=True, help="Former name of --size.")] = None,
    seed: SeedOpt = 0,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes to use (default: all cores).")] = None,
    hard_finding: Annotated[str | None, typer.Option(
        "--hard-finding",
        help="KIND:SEX:CONTRAST, e.g. effusion:Female:0.3: that finding drawn with less contrast in that sex "
        "(CheXpert and ChestX-ray14 layouts), so a subgroup gap exists on purpose. Off by default.",
    )] = None,
) -> None:
    """Write synthetic chest X-rays with reports in every layout of the synthetic default, deterministically from
    the seed."""
    from ecamp_bench.data.synth import generate
    from ecamp_bench.data.synth.generate import LAYOUTS, synthetic_size
    from ecamp_bench.paths import synthetic_root

    from ecamp_bench.seeds import check_seed

    check_seed(seed)
    from ecamp_bench.data.synth.case import HardFinding
    from ecamp_bench.errors import ConfigError

    size = renamed_option(size, preset, "small", option="--size", old="--preset", command="data synth")
    synthetic_size(size)
    try:
        hard = HardFinding.parse(hard_finding) if hard_finding else None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--hard-finding {hard_finding!r}: {exc}") from None
    target = out if out is not None else synthetic_root(size)
    started = time.perf_counter()
    from ecamp_bench.progress import counts_progress

    # bars on a terminal, plain lines (at least every 30 s) in a log, as for the first-use generation
    progress = counts_progress("synthetic data:")
    counts = generate(target, size=size, seed=seed, progress=progress, workers=workers, hard=hard)
    elapsed = time.perf_counter() - started
    table = Table(title=f"synthetic data ({size}, seed {seed}) in {target}", title_justify="left")
    table.add_column("layout", style="bold")
    table.add_column("images", justify="right")
    table.add_column("folder")
    for name, count in counts.items():
        table.add_row(name, str(count), str(target / LAYOUTS[name][0]))
    out_console = console()
    out_console.print(table)
    out_console.print(f"{sum(counts.values())} images in {elapsed:.1f} s")


@app.command("check")
def check(
    layout: Annotated[str, typer.Option("--layout", help="Layout name (see `ecamp-bench list layouts`).")],
    root: Annotated[Path, typer.Option("--root", help="Dataset folder (the layout root or the folder above it).")],
    quick: Annotated[bool, typer.Option("--quick", help="Read image headers only; do not decode pixel data.")] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Processes decoding images (default: all cores).")
    ] = None,
) -> None:
    """Validate a dataset tree and list every problem found (exit code 1 if there is any).

    Every image is decoded in full (in parallel, with progress) unless ``--quick``, which reads headers only.
    """
    import inspect

    from ecamp_bench.data.image_check import CheckOptions
    from ecamp_bench.data.roots import find_layout_root

    spec = catalog().layout(layout)
    found = find_layout_root(spec, root)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console(), transient=True) as bar:
        task = bar.add_task("reading image headers" if quick else "decoding images", total=None)
        options = CheckOptions(quick=quick, workers=workers,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
        takes_options = len(inspect.signature(spec.validate).parameters) > 1
        problems = spec.validate(found, options) if takes_options else spec.validate(found)
    out = console()
    if not takes_options:
        out.print(f"[yellow]layout {layout}'s validate takes no options: its own image checks ran (--quick ignored)[/]")
    elif quick:
        out.print("[yellow]quick check: image headers only, pixel data not decoded (run without --quick to decode "
                  "every image)[/]")
    if not problems:
        out.print(f"[green]{layout}: no problems in {found}{' (image headers only)' if quick else ''}[/]")
        return
    listing = Table(title=f"{len(problems)} problem(s) in {found}", title_justify="left")
    for column in ("file", "row", "key", "problem"):
        listing.add_column(column, overflow="fold")
    for problem in problems:
        listing.add_row(problem.path, "" if problem.row is None else str(problem.row), problem.key or "",
                        problem.message)
    out.print(listing)
    counts = Table(title="problems by kind", title_justify="left")
    counts.add_column("kind", style="bold")
    counts.add_column("count", justify="right")
    for code, count in sorted(Counter(p.code for p in problems).items()):
        counts.add_row(code, str(count))
    out.print(counts)
    raise typer.Exit(code=1)


@app.command("prepare")
def prepare(
    root: Annotated[Path, typer.Option("--root", help="Dataset folder whose JPEG/PNG images are resized.")],
    size: Annotated[int, typer.Option("--size", help="Shorter side of the copies in pixels (1024 for the paper "
                                                     "config: 448 crops from down to 20 % of the area).")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder of the copy (default: under the cache).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes to use (default: all cores).")] = None,
) -> None:
    """Write a resized copy of a dataset's images once (parallel, resumable, with a manifest); pre-training
    then reads the copy instead of the full-size files, without any option."""
    from ecamp_bench.data.prepared import prepare_tree

    started = time.perf_counter()
    with Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console(), transient=False) as bar:
        task = bar.add_task(f"{size} px", total=None)
        summary = prepare_tree(root, size, out=out, workers=workers,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    console().print(f"{summary.total} images under {root}: {summary.written} resized, {summary.skipped} already "
                    f"done, in {time.perf_counter() - started:.1f} s → {summary.out}")
