"""``ecamp-bench compare A B --task T --fraction F``: paired tests between two backbones' runs.

The runs' saved test predictions are matched by image id (an error names the counts when the test sets
differ). AUC: DeLong's test per label; the macro AUC of a multi-label task by a paired bootstrap of the
macro-AUC difference. Other metrics: the test the records store for them (``MetricSpec.paired_test``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ecamp_bench.cli._options import console, err_console
from ecamp_bench.errors import EcampBenchError

app = typer.Typer()


def find_runs(rows: list[dict], backbone: str, task: str, fraction: float, protocol: str | None) -> dict[int, dict]:
    """``seed → newest primary-metric row`` of ``backbone`` on ``task`` at ``fraction`` (one protocol)."""
    from ecamp_bench.sweep.grid import short_backbone

    name = short_backbone(backbone)
    mine = [r for r in rows if r["primary"] and r["task"] == task and abs(r["fraction"] - fraction) < 1e-12 and r["backbone"] == name]
    protocols = sorted({r["protocol"] for r in mine})
    if protocol is None and len(protocols) > 1:
        raise EcampBenchError(f"backbone '{name}' has {task} runs under protocols {protocols}; pass --protocol")
    runs: dict[int, dict] = {}
    for row in mine:
        if protocol is not None and row["protocol"] != protocol:
            continue
        if row["seed"] not in runs or (row.get("finished_at") or "") >= (runs[row["seed"]].get("finished_at") or ""):
            runs[row["seed"]] = row
    if not runs:
        raise EcampBenchError(f"no ok run of backbone '{name}' on {task} at fraction {fraction:g}"
                              + (f" with protocol '{protocol}'" if protocol else "") + " in the results folder")  # fmt: skip
    identities = {(r.get("weights_sha256"), r.get("setup_sha256"), r.get("preset")) for r in runs.values()}
    if len(identities) > 1:
        shown = "; ".join(f"weights {str(w)[:8]}, config {str(c)[:8]}, preset {p}" for w, c, p in sorted(identities, key=str))
        raise EcampBenchError(f"backbone '{name}' names {len(identities)} different runs on {task} ({shown}): "
                              "they are not the same run, so they cannot be paired; keep one set in the results folder")  # fmt: skip
    return runs


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="Backbone A (as in the leaderboard, e.g. random-init or file:NAME).")],
    b: Annotated[str, typer.Argument(help="Backbone B.")],
    task: Annotated[str, typer.Option("--task", "-t", help="Task name.")],
    fraction: Annotated[str, typer.Option("--fraction", "-f", help="Label fraction: 0.01, 1% or 1.")],
    protocol: Annotated[str | None, typer.Option("--protocol", help="Protocol (needed when both have several).")] = None,
    seed: Annotated[list[int], typer.Option("--seed", "-s", help="Seed(s) to compare (default: every seed both have).")] = [],  # noqa: B006
    n_bootstrap: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples.")] = 1000,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    results: Annotated[Path | None, typer.Option("--results", help="Results folder (default: results/).")] = None,
) -> None:
    """Paired test of two backbones on the same test images (DeLong for AUC, paired bootstrap otherwise)."""
    from rich.table import Table

    from ecamp_bench.data.splits import parse_fraction
    from ecamp_bench.leaderboard.aggregate import format_fraction
    from ecamp_bench.leaderboard.significance import load_run_predictions, paired_tests
    from ecamp_bench.paths import results_dir
    from ecamp_bench.results.store import scan, tidy_rows

    value = parse_fraction(fraction)
    folder = results if results is not None else results_dir()
    scanned = scan(folder)
    for skipped in scanned.skipped:
        err_console().print(f"[yellow]skipped[/] {escape(str(skipped))}", soft_wrap=True)
    rows = tidy_rows(scanned)
    runs_a, runs_b = (find_runs(rows, x, task, value, protocol) for x in (a, b))
    shared = sorted(set(runs_a) & set(runs_b))
    seeds = sorted(seed) if seed else shared
    missing = [s for s in seeds if s not in shared]
    if missing or not seeds:
        raise EcampBenchError(f"seeds {missing or '(none)'} are not run for both: {a} has {sorted(runs_a)}, {b} has {sorted(runs_b)}")
    out = console()
    for s in seeds:
        row_a, row_b = runs_a[s], runs_b[s]
        tests = paired_tests(load_run_predictions(Path(row_a["file"])), load_run_predictions(Path(row_b["file"])),
                             metric=row_a["metric"], paired_test=row_a.get("paired_test"), value_fn=row_a.get("value_fn"),
                             n_bootstrap=n_bootstrap, seed=s, names=(a, b))  # fmt: skip
        table = Table(title=f"{task} {format_fraction(value)} {row_a['protocol']} seed {s}: A = {a}, B = {b} (n = {tests[0].n} test images)",
                      title_justify="left")  # fmt: skip
        for header in ("metric", "A", "B", "A − B", "95% CI", "p", "test"):
            table.add_column(header, justify="left" if header in ("metric", "test") else "right")
        for t in tests:
            ci = f"[{t.ci95[0]:+.4f}, {t.ci95[1]:+.4f}]" if t.ci95 else "—"
            p = "—" if t.p_value is None else (f"[bold]{t.p_value:.2g}[/]" if t.significant(alpha) else f"{t.p_value:.2g}")
            diff = "—" if t.difference is None else f"{t.difference:+.4f}"
            table.add_row(t.metric, _num(t.value_a), _num(t.value_b), diff, ci, p, escape(t.test))
        out.print(table)
    out.print(f"bold p: below alpha = {alpha:g} (two-sided). Macro AUC of multi-label tasks: paired bootstrap of the "
              "macro-AUC difference; per-label AUC and single-label AUC: DeLong's test.", soft_wrap=True)  # fmt: skip
