"""Label-efficiency plots: metric vs label fraction, one line per backbone, error bars = std over seeds.

One PNG per (protocol table, task, metric), drawn with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from ecamp_bench.leaderboard.aggregate import LeaderboardTable, Pivot, format_fraction
from ecamp_bench.results.record import safe_dirname


@dataclass(frozen=True)
class Plot:
    """One rendered plot: a file name (``<protocol>-<task>-<metric>.png``), a title and the PNG bytes."""

    filename: str
    title: str
    png: bytes
    table_index: int


def _series(table: LeaderboardTable, task: str, version: int, metric: str,
            split: str = "") -> dict[str, list[tuple[float, float, float]]]:
    """``backbone → [(fraction, mean, std)]`` sorted by fraction."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    for (backbone, col), cell in table.cells.items():
        column = table.columns[col]
        if (column.task, column.task_version, column.metric, column.split) != (task, version, metric, split) \
                or cell.mean is None:
            continue
        out.setdefault(backbone, []).append((column.fraction, cell.mean, cell.std or 0.0))
    return {b: sorted(points) for b, points in sorted(out.items())}


def render_plot(table: LeaderboardTable, task: str, version: int, metric: str, dpi: int = 110,
                split: str = "") -> bytes:
    """The PNG bytes of one label-efficiency plot."""
    return figure_png(plot_figure(table, task, version, metric, dpi, split))


LEGEND_WRAP = 48  # characters per legend line; a long label (random-init's architecture) wraps instead of widening


def place_legend_below(axes, fontsize: int = 8) -> None:
    """A legend under the axes (never over the data or the axis), labels wrapped at :data:`LEGEND_WRAP` characters."""
    import textwrap

    handles, labels = axes.get_legend_handles_labels()
    if not handles:
        return
    wrapped = ["\n".join(textwrap.wrap(label, LEGEND_WRAP, break_on_hyphens=False)) or label for label in labels]
    axes.legend(handles, wrapped, fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)


def plot_figure(table: LeaderboardTable, task: str, version: int, metric: str, dpi: int = 110, split: str = ""):
    """The matplotlib ``Figure`` of one label-efficiency plot (legend below the axes)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    series = _series(table, task, version, metric, split)
    fractions = sorted({f for points in series.values() for f, _, _ in points})
    figure = Figure(figsize=(5.2, 3.6), dpi=dpi)
    axes = figure.add_subplot()
    for backbone, points in series.items():
        xs, ys, errs = zip(*points)
        axes.errorbar(xs, ys, yerr=errs, marker="o", capsize=4, linewidth=1.6, label=backbone)
    axes.set_xscale("log")
    axes.set_xticks(fractions, [format_fraction(f) for f in fractions])
    axes.minorticks_off()
    axes.set_xlabel("label fraction (log scale)")
    axes.set_ylabel(metric)
    axes.set_title(f"{task} — {table.title}", fontsize=10)
    axes.grid(True, alpha=0.3)
    place_legend_below(axes)
    return figure


def figure_png(figure) -> bytes:
    """A matplotlib ``Figure``, laid out tight (legends outside the axes included), as PNG bytes."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def label_efficiency_plots(pivot: Pivot) -> list[Plot]:
    """One plot per (table, task, metric) of the pivot."""
    plots = []
    for t, table in enumerate(pivot.tables):
        for task, version, metric, split in sorted({(c.task, c.task_version, c.metric, c.split)
                                                    for c in table.columns}):
            preset = f"-{table.preset}" if table.preset != "default" else ""
            on = f"-{split}-split" if split else ""
            name = safe_dirname(
                f"{table.protocol}-v{table.protocol_version}{preset}-{task}-v{version}-{metric}{on}"
            ) + ".png"
            title = f"{task} ({metric}{', ' + split + ' split' if split else ''}) — {table.title}"
            plots.append(Plot(name, title, render_plot(table, task, version, metric, split=split), t))
    return plots


def save_plots(plots: list[Plot], folder: Path) -> list[Path]:
    """Write each plot as ``folder/<filename>`` (atomically); returns the paths."""
    from ecamp_bench.atomic import atomic_write_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [atomic_write_bytes(folder / plot.filename, plot.png) for plot in plots]
