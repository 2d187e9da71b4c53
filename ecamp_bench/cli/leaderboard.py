"""``ecamp-bench leaderboard``: aggregate result records into per-protocol tables (read-only on records)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecamp_bench.cli._options import catalog, console, err_console
from ecamp_bench.errors import UnknownNameError

app = typer.Typer()
FORMATS = ("rich", "md", "csv", "json", "html")


@app.command("leaderboard")
def leaderboard_command(
    fmt: Annotated[
        str, typer.Option("--format", help="Printed format: rich, md, csv, json, or html (writes leaderboard.html "
                                           "+ plots/).")
    ] = "rich",
    results: Annotated[Path | None, typer.Option("--results", help="Results folder (default: results/).")] = None,
    write: Annotated[bool, typer.Option("--write/--no-write", help="Write leaderboard.md and leaderboard.csv.")] = True,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="html: also show published rows from this YAML "
                                                      "(configs/reference/published.yaml).")
    ] = None,
    cost: Annotated[
        bool, typer.Option("--cost", help="Also show each backbone's parameters, GFLOPs/image and images/s.")
    ] = False,
) -> None:
    """Aggregate results/runs/ into tables (rows = backbones, columns = task × fraction), one per protocol."""
    from ecamp_bench.leaderboard.aggregate import pivot
    from ecamp_bench.leaderboard.render import to_csv, to_json, to_markdown, to_rich
    from ecamp_bench.paths import results_dir
    from ecamp_bench.atomic import atomic_write_text
    from ecamp_bench.results.store import scan, tidy_rows

    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    folder = results if results is not None else results_dir()
    scanned = scan(folder)
    rows = tidy_rows(scanned)
    table = pivot(rows)
    from rich.markup import escape

    for skipped in scanned.skipped:
        err_console().print(f"[yellow]skipped[/] {escape(str(skipped))}", soft_wrap=True)
    for note in table.notes:
        err_console().print(f"[dim]{escape(note)}[/]", soft_wrap=True)
    from ecamp_bench.leaderboard.significance import apply_marks, legend, significance

    from ecamp_bench.progress import Progress

    marks = significance(table, rows, progress=Progress())
    marked = apply_marks(table, marks)
    markdown, csv_text = to_markdown(table) + (f"\n{legend()}\n" if marked else ""), to_csv(rows)
    from ecamp_bench.leaderboard.fairness import (
        cost_markdown,
        cost_rows,
        fairness_markdown,
        fairness_tables,
        rich_sections,
    )

    fairness_found, costs = fairness_tables(scanned.records, rows), cost_rows(scanned.records) if cost else []
    extra = (fairness_markdown(fairness_found), cost_markdown(costs))
    extra_md = "\n".join(x for x in extra if x)
    markdown += ("\n" + extra_md) if extra_md else ""
    out = console()
    if fmt == "html":
        from ecamp_bench.leaderboard.html import build_report

        html_text, plot_paths = build_report(folder, catalog(), references=reference, scanned=scanned, marks=marks,
                                               cost=cost)
        atomic_write_text(folder / "leaderboard.html", html_text)
        err_console().print(f"wrote {folder / 'leaderboard.html'} and {len(plot_paths)} plot(s) in {folder / 'plots'}",
                            soft_wrap=True)
    elif fmt == "rich":
        if not table.tables:
            out.print(f"no result records in {folder / 'runs'}; run `ecamp-bench eval` first")
        for t in [*to_rich(table), *rich_sections(fairness_found, costs)]:
            out.print(t)
        if marked:
            out.print(legend(), markup=False, soft_wrap=True)
    else:
        out.print({"md": markdown, "csv": csv_text, "json": to_json(table)}[fmt], end="", markup=False, soft_wrap=True)
    if write:
        atomic_write_text(folder / "leaderboard.md", markdown)
        atomic_write_text(folder / "leaderboard.csv", csv_text)
        err_console().print(f"wrote {folder / 'leaderboard.md'} and {folder / 'leaderboard.csv'}", soft_wrap=True)
