"""``ecamp-bench compare A B [--task T] [--fraction F]``: paired tests between two backbones' runs.

The runs' saved test predictions are matched by image id (an error names the counts when the test sets
differ). AUC: DeLong's test per label; the macro AUC of a multi-label task by a paired bootstrap of the
macro-AUC difference. Other metrics: the test the records store for them (``MetricSpec.paired_test``).

With ``--task`` and ``--fraction`` one cell is shown in full (every metric, every seed). Without either, every
(task, protocol, preset, fraction) cell that both backbones have is summarised in one row: the mean primary metric of
A and B over their shared seeds, the p-value of each seed's paired test, and a verdict (A or B better when
p < alpha on every shared seed, in the same direction); ``--markdown`` prints that table as markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ecamp_bench.cli._options import console, err_console
from ecamp_bench.errors import EcampBenchError
from ecamp_bench.leaderboard.training_noise import MIN_TRAINING_RUNS, few_runs_note

app = typer.Typer()


def find_runs(rows: list[dict], backbone: str, task: str, fraction: float, protocol: str | None,
              preset: str | None = None) -> dict[int, dict]:
    """``seed → newest primary-metric row`` of ``backbone`` on ``task`` at ``fraction`` (one protocol, one preset).

    Raises :class:`EcampBenchError` when the runs span several protocols or presets and none was named: runs of
    different presets (e.g. ``finetune`` under ``tiny`` and ``cpu-demo``) are different experiments.
    """
    from ecamp_bench.sweep.grid import short_backbone

    name = short_backbone(backbone)
    mine = [r for r in rows if r["primary"] and r["task"] == task and abs(r["fraction"] - fraction) < 1e-12 and r["backbone"] == name]
    protocols = sorted({r["protocol"] for r in mine})
    if protocol is None and len(protocols) > 1:
        raise EcampBenchError(f"backbone '{name}' has {task} runs under protocols {protocols}; pass --protocol")
    mine = [r for r in mine if protocol is None or r["protocol"] == protocol]
    presets = sorted({r["preset"] for r in mine})
    if preset is None and len(presets) > 1:
        raise EcampBenchError(f"backbone '{name}' has {task} runs under presets {presets}; pass --preset")
    runs: dict[int, dict] = {}
    for row in mine:
        if preset is not None and row["preset"] != preset:
            continue
        if row["seed"] not in runs or (row.get("finished_at") or "") >= (runs[row["seed"]].get("finished_at") or ""):
            runs[row["seed"]] = row
    if not runs:
        raise EcampBenchError(f"no ok run of backbone '{name}' on {task} at fraction {fraction:g}"
                              + (f" with protocol '{protocol}'" if protocol else "")
                              + (f" and preset '{preset}'" if preset else "") + " in the results folder")  # fmt: skip
    identities = {(r.get("weights_sha256"), r.get("setup_sha256")) for r in runs.values()}  # one preset by now
    if len(identities) > 1:
        shown = "; ".join(f"weights {str(w)[:8]}, config {str(c)[:8]}" for w, c in sorted(identities, key=str))
        raise EcampBenchError(f"backbone '{name}' names {len(identities)} different runs on {task} ({shown}): "
                              "they are not the same run, so they cannot be paired; keep one set in the results folder")  # fmt: skip
    return runs


def paired_runs(row_a: dict, row_b: dict, names: tuple[str, str], *, n_bootstrap: int, seed: int) -> list:
    """The paired tests (primary metric first) of two runs' saved test predictions, by the test A's record names."""
    from ecamp_bench.leaderboard.significance import load_run_predictions, paired_tests

    return paired_tests(load_run_predictions(Path(row_a["file"])), load_run_predictions(Path(row_b["file"])),
                        metric=row_a["metric"], paired_test=row_a.get("paired_test"), value_fn=row_a.get("value_fn"),
                        n_bootstrap=n_bootstrap, seed=seed, names=names)  # fmt: skip


@dataclass(frozen=True)
class CellComparison:
    """A vs B in one (task, protocol, preset, fraction) cell: primary-metric means over the shared seeds, and per
    seed the difference A − B and the two-sided p-value of its paired test on the same ``n`` test images."""

    task: str
    protocol: str
    preset: str
    fraction: float
    metric: str
    seeds: tuple[int, ...]
    mean_a: float
    mean_b: float
    differences: tuple[float | None, ...]
    p_values: tuple[float | None, ...]
    test: str
    n: int

    def verdict(self, alpha: float) -> str:
        """``A``/``B`` when every seed's test has p < ``alpha`` with the same sign of the difference, else ``-``;
        with fewer than 3 shared seeds (training runs) ``"one training run, not significant by design"`` (or the
        count): the paired tests resample test images only, not training."""
        few = few_runs_note(len(self.seeds))
        if few is not None:
            return few
        if not self.p_values or any(p is None or p >= alpha for p in self.p_values):
            return "-"
        signs = {d > 0 for d in self.differences if d is not None}
        return ("A" if signs == {True} else "B") if len(signs) == 1 else "-"


def summarise(rows: list[dict], a: str, b: str, *, task: str | None, fraction: float | None, protocol: str | None,
              n_bootstrap: int, alpha: float, preset: str | None = None) -> list[CellComparison]:  # fmt: skip
    """A :class:`CellComparison` for every (task, protocol, preset, fraction) cell where both ``a`` and ``b`` have
    runs with shared seeds, sorted by task, protocol, preset and fraction. Raises :class:`EcampBenchError` when there
    is none."""
    from ecamp_bench.sweep.grid import short_backbone

    names = {short_backbone(a), short_backbone(b)}
    cells = sorted({(r["task"], r["protocol"], r["preset"], r["fraction"]) for r in rows
                    if r["primary"] and r["backbone"] in names and (task is None or r["task"] == task)
                    and (fraction is None or abs(r["fraction"] - fraction) < 1e-12)
                    and (protocol is None or r["protocol"] == protocol)
                    and (preset is None or r["preset"] == preset)})  # fmt: skip
    out = []
    for cell_task, cell_protocol, cell_preset, cell_fraction in cells:
        try:
            runs_a, runs_b = (find_runs(rows, x, cell_task, cell_fraction, cell_protocol, cell_preset) for x in (a, b))
        except EcampBenchError:
            continue  # one of the two has no run here
        seeds = tuple(sorted(set(runs_a) & set(runs_b)))
        if not seeds:
            continue
        tests = [paired_runs(runs_a[s], runs_b[s], (a, b), n_bootstrap=n_bootstrap, seed=s)[0] for s in seeds]
        out.append(CellComparison(
            task=cell_task, protocol=cell_protocol, preset=cell_preset, fraction=cell_fraction, metric=tests[0].metric, seeds=seeds,
            mean_a=sum(runs_a[s]["value"] for s in seeds) / len(seeds),
            mean_b=sum(runs_b[s]["value"] for s in seeds) / len(seeds),
            differences=tuple(t.difference for t in tests), p_values=tuple(t.p_value for t in tests),
            test=tests[0].test, n=tests[0].n,
        ))  # fmt: skip
    if not out:
        raise EcampBenchError(f"'{a}' and '{b}' share no (task, protocol, preset, fraction, seed) in the results folder")
    return out


def print_summary(cells: list[CellComparison], a: str, b: str, *, alpha: float, markdown: bool) -> None:
    """The summary table of :func:`summarise` (rich, or markdown with ``markdown``)."""
    from rich.table import Table

    from ecamp_bench.leaderboard.aggregate import format_fraction

    headers = ("task", "protocol", "preset", "fraction", "metric", "seeds", "A", "B", "A − B", "p per seed (sign of A − B)", "better",
               "test", "n")
    rows = []
    for c in cells:
        p = ", ".join(("—" if v is None else f"{v:.2g}") + ("" if d is None else " (+)" if d > 0 else " (−)" if d < 0 else " (=)")
                      for v, d in zip(c.p_values, c.differences))  # fmt: skip
        rows.append((c.task, c.protocol, c.preset, format_fraction(c.fraction), c.metric, ",".join(map(str, c.seeds)),
                     f"{c.mean_a:.3f}", f"{c.mean_b:.3f}", f"{c.mean_a - c.mean_b:+.3f}", p, c.verdict(alpha), c.test,
                     str(c.n)))  # fmt: skip
    legend = (f"A = {a}, B = {b}; A and B: mean over the shared seeds; better: A or B when there are at least "
              f"{MIN_TRAINING_RUNS} shared seeds (training runs) and p < {alpha:g} on every one in the same direction, "
              "else -; fewer seeds are not significant by design (the paired tests resample test images, not "
              "training).")
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" if h in ("task", "protocol", "preset", "metric", "test", "better") else "---:" for h in headers) + "|")
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
    fraction: Annotated[str | None, typer.Option("--fraction", "-f", help="Label fraction: 0.01, 1% or 1 (default: every fraction).")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="Protocol (needed when both have several).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Preset of the runs, e.g. tiny or cpu-demo (needed for a cell run under several).")] = None,
    seed: Annotated[list[int], typer.Option("--seed", "-s", help="Seed(s) to compare (default: every seed both have).")] = [],  # noqa: B006
    n_bootstrap: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples.")] = 1000,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    results: Annotated[Path | None, typer.Option("--results", help="Results folder (default: results/).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Summary table as markdown (without --task/--fraction).")] = False,
) -> None:
    """Paired test of two backbones on the same test images (DeLong for AUC, paired bootstrap otherwise).

    Without ``--task``/``--fraction``: one summary row per (task, protocol, preset, fraction) both backbones have.
    """
    from rich.table import Table

    from ecamp_bench.data.splits import parse_fraction
    from ecamp_bench.leaderboard.aggregate import format_fraction
    from ecamp_bench.paths import results_dir
    from ecamp_bench.results.store import scan, tidy_rows

    value = None if fraction is None else parse_fraction(fraction)
    folder = results if results is not None else results_dir()
    scanned = scan(folder)
    for skipped in scanned.skipped:
        err_console().print(f"[yellow]skipped[/] {escape(str(skipped))}", soft_wrap=True)
    rows = tidy_rows(scanned)
    if task is None or fraction is None:
        cells = summarise(rows, a, b, task=task, fraction=None if fraction is None else parse_fraction(fraction),
                          protocol=protocol, n_bootstrap=n_bootstrap, alpha=alpha, preset=preset)  # fmt: skip
        print_summary(cells, a, b, alpha=alpha, markdown=markdown)
        return
    runs_a, runs_b = (find_runs(rows, x, task, value, protocol, preset) for x in (a, b))
    shared = sorted(set(runs_a) & set(runs_b))
    seeds = sorted(seed) if seed else shared
    missing = [s for s in seeds if s not in shared]
    if missing or not seeds:
        raise EcampBenchError(f"seeds {missing or '(none)'} are not run for both: {a} has {sorted(runs_a)}, {b} has {sorted(runs_b)}")
    out = console()
    for s in seeds:
        row_a, row_b = runs_a[s], runs_b[s]
        tests = paired_runs(row_a, row_b, (a, b), n_bootstrap=n_bootstrap, seed=s)
        table = Table(title=f"{task} {format_fraction(value)} {row_a['protocol']} (preset {row_a['preset']}) seed {s}: A = {a}, B = {b} (n = {tests[0].n} test images)",
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
    few = few_runs_note(len(seeds))
    if few is not None:
        out.print(f"{few}: {len(seeds)} seed(s), and each p above covers test-image sampling only, not training noise.",
                  soft_wrap=True)
