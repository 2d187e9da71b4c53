"""The report's pre-training probe section: linear-probe AUC of each pre-trained encoder against its steps.

Reads every ``<results>/pretrain/*/probe.jsonl`` (written by :mod:`ecamp_bench.pretrain.probe`; the default
run folders live in the results folder, so the report needs nothing else) and draws one line per backbone,
named as its leaderboard row (``file:<weight file stem>``). A short table gives the probe AUC before training,
at its best step and at the end, so a reader sees whether features improved with steps and where they stopped.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from html import escape
from pathlib import Path

from ecamp_bench.pretrain.probe import PROBE_FILE, read_probe_log

PLOT_FILE = "pretraining-probe.png"


@dataclass(frozen=True)
class ProbeCurve:
    """One run's probe rows: ``points`` = ``[(step, macro AUC)]`` sorted by step, ``per_label`` of the last row."""

    backbone: str
    run_dir: Path
    points: list[tuple[int, float]]
    per_label: dict[str, float | None]
    n_fit: int = 0
    n_test: int = 0


def probe_curves(results: Path) -> list[ProbeCurve]:
    """The probe curves of the runs under ``results/pretrain``, sorted by backbone name."""
    curves = []
    for path in sorted(Path(results).glob(f"pretrain/*/{PROBE_FILE}")):
        rows = [r for r in read_probe_log(path) if r.get("auc") is not None]
        if not rows:
            continue
        name = rows[-1].get("backbone") or path.parent.name
        curves.append(ProbeCurve(name, path.parent, [(int(r["step"]), float(r["auc"])) for r in rows],
                                 dict(rows[-1].get("auc_per_label") or {}), int(rows[-1].get("n_fit", 0)),
                                 int(rows[-1].get("n_test", 0))))
    return sorted(curves, key=lambda c: (c.backbone, str(c.run_dir)))


def render_probe_plot(curves: list[ProbeCurve], dpi: int = 110) -> bytes:
    """PNG bytes: probe macro AUC (y) against optimizer steps (x), one line per curve."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from ecamp_bench.leaderboard.plots import figure_png, place_legend_below

    figure = Figure(figsize=(6.4, 3.8), dpi=dpi)
    axes = figure.add_subplot()
    for curve in curves:
        steps, aucs = zip(*curve.points)
        axes.plot(steps, aucs, marker="o", markersize=3, linewidth=1.6, label=curve.backbone)
    axes.set_xlabel("pre-training step")
    axes.set_ylabel("probe AUC (macro, held-out synthetic)")
    axes.set_title("Linear probe of the encoder during pre-training", fontsize=10)
    axes.grid(True, alpha=0.3)
    place_legend_below(axes, fontsize=7)
    return figure_png(figure)


def probe_section(results: Path, plots_dir: Path | None = None) -> tuple[str, list[Path]]:
    """The HTML section (``""`` when no run has a probe log) and the saved plot path(s) under ``plots_dir``."""
    curves = probe_curves(results)
    if not curves:
        return "", []
    png = render_probe_plot(curves)
    saved = []
    if plots_dir is not None:
        from ecamp_bench.leaderboard.plots import Plot, save_plots

        saved = save_plots([Plot(PLOT_FILE, "pre-training probe", png, -1)], plots_dir)
    rows = []
    for c in curves:
        best_step, best = max(c.points, key=lambda p: (p[1], -p[0]))
        rows.append(f"<tr><th>{escape(c.backbone)}</th>"
                    f"<td class=\"num\">{c.points[0][1]:.3f} (step {c.points[0][0]})</td>"
                    f"<td class=\"num\">{best:.3f} (step {best_step})</td>"
                    f"<td class=\"num\">{c.points[-1][1]:.3f} (step {c.points[-1][0]})</td></tr>")
    data = base64.b64encode(png).decode("ascii")
    return "\n".join([
        '<section id="pretraining-probe"><h2>Pre-training probe</h2>',
        '<p class="notes">During pre-training the encoder\'s global feature (mean of the final-norm patch tokens, as '
        "the protocols use it) is probed every few steps: one logistic regression per finding, fitted on "
        f"{curves[0].n_fit} held-out synthetic images and scored (ROC AUC) on {curves[0].n_test} others, labelled by "
        "what was drawn into the pixels. A curve "
        "that rises shows the features learning; where it flattens, more steps stop helping.</p>",
        "<table><thead><tr><th>backbone</th><th>first</th><th>best</th><th>last</th></tr></thead><tbody>",
        *rows, "</tbody></table>",
        f'<figure><img src="data:image/png;base64,{data}" alt="pre-training probe" width="640">'
        f"<figcaption>Probe AUC against pre-training steps (results/plots/{PLOT_FILE})</figcaption></figure>",
        "</section>",
    ]), saved
