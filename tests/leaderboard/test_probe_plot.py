"""The report's pre-training probe section, read from the results folder alone."""

from __future__ import annotations

import json

from ecamp_bench.leaderboard.probe_plot import PLOT_FILE, probe_curves, probe_section


def write_log(run_dir, backbone, aucs):
    run_dir.mkdir(parents=True)
    rows = [{"step": 10 * i, "backbone": backbone, "auc": a, "auc_per_label": {"x": a}, "n_fit": 50, "n_test": 50}
            for i, a in enumerate(aucs)]
    (run_dir / "probe.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_probe_section_lists_first_best_last_and_saves_the_plot(tmp_path):
    write_log(tmp_path / "pretrain" / "b-run", "file:ecamp-b", [0.70, 0.80, 0.75])
    write_log(tmp_path / "pretrain" / "a-run", "file:ecamp-a", [0.60, 0.65])
    curves = probe_curves(tmp_path)
    assert [c.backbone for c in curves] == ["file:ecamp-a", "file:ecamp-b"]
    assert curves[1].points == [(0, 0.70), (10, 0.80), (20, 0.75)]
    html, saved = probe_section(tmp_path, tmp_path / "plots")
    assert saved == [tmp_path / "plots" / PLOT_FILE] and saved[0].read_bytes().startswith(b"\x89PNG")
    assert "file:ecamp-b" in html and "0.800 (step 10)" in html and "0.750 (step 20)" in html
    assert "fitted on 50 held-out" in html and "data:image/png;base64," in html


def test_no_probe_log_no_section(tmp_path):
    assert probe_section(tmp_path, tmp_path / "plots") == ("", [])
