"""The HTML report: one self-contained file with per-protocol tables, significance marks, reference rows and
embedded label-efficiency plots (also saved as PNGs); and the same page checked in headless Chromium."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecamp_bench.cli import main
from ecamp_bench.evaluation.context import Predictions
from ecamp_bench.evaluation.predictions import save_predictions
from ecamp_bench.leaderboard.aggregate import pivot
from ecamp_bench.leaderboard.html import build_report
from ecamp_bench.leaderboard.reference import load_references
from ecamp_bench.leaderboard.significance import significance
from ecamp_bench.plugins import get_catalog
from ecamp_bench.results.record import predictions_path, write_record
from ecamp_bench.results.store import scan, tidy_rows

REPO = Path(__file__).resolve().parents[2]
REFERENCES = REPO / "configs" / "reference" / "published.yaml"
N_TEST = 200


def scores_for(quality: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets (fixed test set) and scores whose AUC grows with ``quality``."""
    targets = (np.random.default_rng(7).random(N_TEST) < 0.4).astype(np.float32)  # same test set for every run
    noise = np.random.default_rng(seed).normal(size=N_TEST)
    return targets, (quality * targets + noise).astype(np.float32)


def add_run(results: Path, protocol: str, backbone: str, seed: int, fraction: float, quality: float,
            tag: str = "") -> None:
    from ecamp_bench.evaluation.metrics import binary_auc

    targets, scores = scores_for(quality, seed * 31 + hash(tag) % 7)
    key = f"{protocol}{backbone}{seed}{fraction}{tag}".replace(".", "").replace(":", "")[:40]
    record = {
        "schema_version": 1, "run_key": key, "task": {"name": "rsna-cls", "version": 1},
        "protocol": {"name": protocol, "version": 1}, "fraction": fraction, "seed": seed,
        "backbone": {"name": backbone, "arch": "vit", "weights_ref": None, "weights_sha256": None},
        "config": {"resolved": {"preset": "tiny"}, "sha256": "c" * 64},
        "split": {"manifest": "m.json", "sha256": "s" * 64, "n_train": 10, "n_val": 5, "n_test": N_TEST},
        "dataset": {
            "layout": "rsna-pneumonia", "root": str(results / "data" / "rsna-pneumonia-detection-challenge"),
            "synthetic": True, "n_images": 300,
        },
        "metrics": [
            {"name": "auc", "value": binary_auc(targets, scores), "higher_is_better": True, "ci95": None, "n": N_TEST}
        ],
        "primary_metric": "auc", "env": {}, "plugins": {},
        "timing": {"started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:00:01Z", "wall_time_s": 1.0},
        "status": "ok", "error": None,
    }
    path = results / "runs" / "rsna-cls" / backbone.replace(":", "--") / f"{key}.json"
    write_record(record, path)
    ids = tuple(f"img{i}" for i in range(N_TEST))
    order = np.random.default_rng(seed).permutation(N_TEST)  # saved order differs per run: pairing is by id
    save_predictions(
        Predictions(tuple(ids[i] for i in order), targets[order, None], scores[order, None], ("Pneumonia",)),
        predictions_path(path),
    )


def populate(results: Path) -> None:
    for seed in (0, 1, 2):
        for fraction in (0.01, 0.1, 1.0):
            add_run(results, "linear", "file:good", seed, fraction, 3.0)  # clearly better than the others
            add_run(results, "linear", "random-init", seed, fraction, 0.3)
            add_run(results, "finetune", "twin-a", seed, fraction, 1.0, tag="t")  # identical predictions:
            add_run(results, "finetune", "twin-b", seed, fraction, 1.0, tag="t")  # never significant


def test_significance_marks_clear_winner_only(tmp_path):
    populate(tmp_path)
    rows = tidy_rows(scan(tmp_path))
    result = pivot(rows)
    marks = significance(result, rows, n_bootstrap=200)
    finetune, linear = result.tables
    assert (finetune.protocol, linear.protocol) == ("finetune", "linear")
    for col in range(3):
        win = marks[(1, col)]
        assert (win.best, win.runner_up, win.significant) == ("file:good", "random-init(vit)", True)
        assert (sorted(win.tests) == [0, 1, 2]
                and all(t.test == "DeLong" and t.p_value < 1e-6 for t in win.tests.values()))
        twin = marks[(0, col)]
        assert twin.significant is False and (twin.reason == "tied means" or twin.max_p == 1.0)


def test_html_report_is_self_contained_with_plots_and_reference_rows(tmp_path):
    populate(tmp_path)
    html, plot_paths = build_report(tmp_path, get_catalog(), references=REFERENCES, n_bootstrap=200)
    assert (html.count("<table") == 2 and "<h2>finetune v1 (preset tiny)</h2>" in html
            and "<h2>linear v1 (preset tiny)</h2>" in html)
    assert not re.search(r"(src|href)=\"(https?:|//|file:)", html) and "<script" not in html  # nothing external
    linear = html[html.index("<h2>linear"):]
    assert linear.count("†</td>") == 3  # the three clear wins; the twins get no mark
    assert html[: html.index("<h2>linear")].count("†</td>") == 0
    # reference rows: separate block, marked, with the published value (MGCA R50, RSNA linear 1% = 88.6 %)
    assert "reported, not re-run" in html and "MGCA (R50)" in linear and "<td class=\"num\">0.886</td>" in linear
    assert "SYNTHETIC data" in linear
    # finetune refs stay in finetune
    assert "MGCA (R50)" not in html[: html.index("<h2>linear")] and "MRM (ViT-B/16)" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 2 == len(plot_paths)
    for data, path in zip(images, sorted(plot_paths)):
        assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] > 300
        assert path.parent == tmp_path / "plots" and Image.open(path).format == "PNG"
    assert sorted(p.name for p in plot_paths) == ["finetune-v1-tiny-rsna-cls-v1-auc.png",
                                                  "linear-v1-tiny-rsna-cls-v1-auc.png"]


def test_cli_writes_html(tmp_path, capsys):
    populate(tmp_path)
    assert main(["leaderboard", "--format", "html", "--results", str(tmp_path), "--reference", str(REFERENCES)]) == 0
    assert (tmp_path / "leaderboard.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "plots" / "linear-v1-tiny-rsna-cls-v1-auc.png").is_file()
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert markdown.count("(n=3)†**") == 3 and "DeLong's test" in markdown  # same marks in the markdown table


def test_reference_file_is_valid_and_bad_entries_name_the_entry(tmp_path):
    refs = load_references(REFERENCES)
    assert refs and all(r.source and 0 < min(r.values.values()) and max(r.values.values()) <= 1 for r in refs)
    bad = tmp_path / "bad.yaml"
    bad.write_text("references:\n  - {method: X, protocol: linear, task: rsna-cls, metric: auc, values: {0.01: 1}}\n")
    from ecamp_bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"bad.yaml: references\[0\]: missing key\(s\) \['source'\]"):
        load_references(bad)


def _browser_module():
    spec = importlib.util.spec_from_file_location("check_report_in_browser",
                                                  REPO / "scripts" / "check_report_in_browser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_report_renders_in_headless_chromium(tmp_path):
    browser = _browser_module()
    if browser.find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); the browser check needs it")
    populate(tmp_path)
    html, _ = build_report(tmp_path, get_catalog(), references=REFERENCES, n_bootstrap=200)
    page = tmp_path / "leaderboard.html"
    page.write_text(html)
    seen = browser.check_report(page, screenshot=tmp_path / "shot.png")
    assert seen.problems == []
    assert seen.tables == 2 and seen.rows >= 4 + 2
    assert len(seen.images) == 2 and all(img["w"] > 300 and img["h"] > 200 for img in seen.images)
    assert Image.open(tmp_path / "shot.png").size == (1280, 2200)
