"""``ecamp-bench compare A B [--task T] [--fraction F]``: paired tests between two backbones' runs (the analysis is
:mod:`ecamp_bench.leaderboard.compare`; this module prints it).

With ``--task`` and ``--fraction`` one cell is shown in full (every metric, every seed). Without either, every
(task, protocol, preset, fraction) cell that both backbones have is summarised in one row: the mean primary metric of
A and B over their shared seeds, the p-value of each seed's paired test, and a verdict (A or B better when
p < alpha on every shared seed, in the same direction); ``--markdown`` prints that table as markdown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ecamp_bench.cli._options import console, err_console
from ecamp_bench.errors import EcampBenchError
from ecamp_bench.leaderboard.compare import CellComparison, find_pairs, paired_runs, runs_by_seed, summarise
from ecamp_bench.leaderboard.training_noise import MIN_TRAINING_RUNS, few_runs_note

app = typer.Typer()


def print_summary(cells: list[CellComparison], a: str, b: str, *, alpha: float, markdown: bool) -> None:
    """The summary table of :func:`summarise` (rich, or markdown with ``markdown``)."""
    from rich.table import Table

    from ecamp_bench.leaderboard.aggregate import format_fraction

    headers = ("task", "protocol", "preset", "fraction", "metric", "seeds", "A", "B", "A − B",
               "p per seed (sign of A − B)", "better", "test", "n")
    rows = []
    for c in cells:
        p = ", ".join(
            ("—" if v is None else f"{v:.2g}") + ("" if d is None else " (+)" if d > 0 else " (−)" if d < 0 else " (=)")
            for v, d in zip(c.p_values, c.differences)
        )
        rows.append((c.task, c.protocol, c.preset, format_fraction(c.fraction), c.metric, ",".join(map(str, c.seeds)),
                     f"{c.mean_a:.3f}", f"{c.mean_b:.3f}", f"{c.mean_a - c.mean_b:+.3f}", p, c.verdict(alpha), c.test,
                     str(c.n)))
    legend = (f"A = {a}, B = {b}; A and B: mean over the shared seeds; better: A or B when there are at least "
              f"{MIN_TRAINING_RUNS} shared seeds (training runs) and p < {alpha:g} on every one in the same direction, "
              "else -; fewer seeds are not significant by design (the paired tests resample test images, not "
              "training).")
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" if h in ("task", "protocol", "preset", "metric", "test", "better") else "---:"
                             for h in headers) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\n{legend}")
        return
    table = Table(title=f"A = {a}, B = {b}", title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(escape(x) for x in row))
    console().print(table)
    console().print(legend, soft_wrap=True)


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="Backbone A (as in the leaderboard, e.g. random-init or file:NAME).")],
    b: Annotated[str, typer.Argument(help="Backbone B.")],
    task: Annotated[str | None, typer.Option("--task", "-t", help="Task name (default: every task both have).")] = None,
    fraction: Annotated[
        str | None, typer.Option("--fraction", "-f", help="Label fraction: 0.01, 1% or 1 (default: every fraction).")
    ] = None,
    protocol: Annotated[str | None, typer.Option("--protocol",
                                                 help="Protocol (needed when both have several).")] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="Preset of the runs, e.g. tiny or cpu-demo (needed for a cell run under "
                     "several)."),
    ] = None,
    seed: Annotated[
        list[int], typer.Option("--seed", "-s", help="Seed(s) to compare (default: every seed both have).")
    ] = [],  # noqa: B006
    n_bootstrap: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples.")] = 1000,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    results: Annotated[Path | None, typer.Option("--results", help="Results folder (default: results/).")] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Summary table as markdown (without --task/--fraction).")
    ] = False,
    metric: Annotated[str | None, typer.Option(
        "--metric", "-m", help="Metric to compare, e.g. 'auc[sex=F]', 'auc_gap[age]', ece (default: primary metric).",
    )] = None,
) -> None:
    """Paired test of two backbones on the same test images (DeLong for AUC, paired bootstrap otherwise).

    Without `--task`/`--fraction`: one summary row per (task, protocol, preset, fraction) both backbones have.
    """
    from rich.table import Table

    from ecamp_bench.data.splits import parse_fraction
    from ecamp_bench.leaderboard.aggregate import format_fraction
    from ecamp_bench.paths import results_dir
    from ecamp_bench.progress import Progress
    from ecamp_bench.results.store import scan, tidy_rows

    from ecamp_bench.sweep.grid import short_backbone

    if short_backbone(a) == short_backbone(b):
        raise EcampBenchError(f"compare needs two different backbones; A and B both name '{short_backbone(a)}'")
    value = None if fraction is None else parse_fraction(fraction)
    folder = results if results is not None else results_dir()
    scanned = scan(folder)
    for skipped in scanned.skipped:
        err_console().print(f"[yellow]skipped[/] {escape(str(skipped))}", soft_wrap=True)
    rows = tidy_rows(scanned)
    if task is None or fraction is None:
        cells = summarise(
            rows, a, b, task=task, fraction=None if fraction is None else parse_fraction(fraction), protocol=protocol,
            n_bootstrap=n_bootstrap, alpha=alpha, preset=preset, metric=metric, progress=Progress(),
        )
        print_summary(cells, a, b, alpha=alpha, markdown=markdown)
        return
    pairs = find_pairs(rows, a, b, task, value, protocol, preset, metric)
    seeds = sorted(seed) if seed else sorted(pairs)
    missing = [s for s in seeds if s not in pairs]
    if missing or not seeds:
        have_a, have_b = (sorted(runs_by_seed(rows, x, task, value, protocol, preset, metric)) for x in (a, b))
        raise EcampBenchError(f"seeds {missing or '(none)'} are not run for both: {a} has {have_a}, {b} has {have_b}")
    out = console()
    for s in seeds:
        row_a, row_b = pairs[s]
        tests = paired_runs(row_a, row_b, (a, b), n_bootstrap=n_bootstrap, seed=s)
        table = Table(
            title=f"{task} {format_fraction(value)} {row_a['protocol']} (preset {row_a['preset']}) seed {s}: "
            f"A = {a}, B = {b} (n = {tests[0].n} test images)",
            title_justify="left",
        )
        for header in ("metric", "A", "B", "A − B", "95% CI", "p", "test"):
            table.add_column(header, justify="left" if header in ("metric", "test") else "right")
        for t in tests:
            ci = f"[{t.ci95[0]:+.4f}, {t.ci95[1]:+.4f}]" if t.ci95 else "—"
            p = "—" if t.p_value is None else (f"[bold]{t.p_value:.2g}[/]" if t.significant(alpha)
                                               else f"{t.p_value:.2g}")
            diff = "—" if t.difference is None else f"{t.difference:+.4f}"
            table.add_row(escape(t.metric), _num(t.value_a), _num(t.value_b), diff, ci, p, escape(t.test))
        out.print(table)
    out.print(f"bold p: below alpha = {alpha:g} (two-sided). Macro AUC of multi-label tasks: paired bootstrap of the "
              "macro-AUC difference; per-label AUC and single-label AUC: DeLong's test.", soft_wrap=True)
    few = few_runs_note(len(seeds))
    if few is not None:
        out.print(f"{few}: {len(seeds)} seed(s), and each p above covers test-image sampling only, not training noise.",
                  soft_wrap=True)
