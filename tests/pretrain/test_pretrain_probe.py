"""The pre-training probe: its scores, its held-out set, its log in a run, and that it does not change training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _pretrain_tiny import tiny_config, tiny_pairs

from ecamp_bench.errors import DataError
from ecamp_bench.models.checkpoints import load_backbone_file, read_backbone_meta
from ecamp_bench.pretrain.loop import run_pretraining
from ecamp_bench.pretrain.probe import probe_scores, read_probe_log, synthetic_probe_set


def test_probe_scores_separate_informative_from_uninformative_features():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 2)) < 0.4).astype(np.float32)
    informative = np.concatenate([y[:, :1] * 2.0 + rng.normal(size=(400, 1)), rng.normal(size=(400, 7))], axis=1)
    scores = probe_scores(informative, y, ("a", "b"))
    assert scores["auc_per_label"]["a"] > 0.8
    assert 0.35 < scores["auc_per_label"]["b"] < 0.65  # nothing in the features carries label b
    assert scores["auc"] == pytest.approx(np.mean(list(scores["auc_per_label"].values())))
    assert (scores["n_fit"], scores["n_test"]) == (200, 200)
    constant = y.copy()
    constant[:, 1] = 0.0
    assert probe_scores(informative, constant, ("a", "b"))["auc_per_label"]["b"] is None


def test_synthetic_probe_set_is_deterministic_and_labelled_by_the_drawn_findings():
    from ecamp_bench.data.synth.case import make_case

    first, again = synthetic_probe_set(12, 64, seed=3), synthetic_probe_set(12, 64, seed=3)
    assert first.images.shape == (12, 1, 64, 64) and torch.equal(first.images, again.images)
    assert 0.0 <= float(first.images.min()) and float(first.images.max()) <= 1.0
    for i in (0, 5, 11):
        drawn = {f.kind for f in make_case(3, "probe", i, 64).findings}
        assert [bool(v) for v in first.targets[i]] == [kind in drawn for kind in first.labels]
    assert not torch.equal(first.images, synthetic_probe_set(12, 64, seed=4).images)


@pytest.fixture(scope="module")
def probed_run(tmp_path_factory):
    """A tiny run (6 steps) with a 40-image probe every 2 steps."""
    folder = tmp_path_factory.mktemp("probed")
    cfg = tiny_config()
    cfg.probe.every, cfg.probe.images = 2, 40
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECAMP_BENCH_PRETRAINED", str(folder / "pretrained"))
        result, trainer = run_pretraining(cfg, folder / "run", pairs=tiny_pairs(folder / "pairs"))
    return result, trainer, folder


def test_run_logs_the_probe_before_training_and_every_n_steps(probed_run):
    result, _, folder = probed_run
    rows = read_probe_log(folder / "run" / "probe.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    assert all(0.0 <= r["auc"] <= 1.0 and r["n_fit"] == 20 for r in rows)
    assert rows[0]["backbone"] == f"file:{result.backbone.stem}"
    assert "probe" not in read_backbone_meta(result.backbone).extra  # the weights file holds no run history
    provenance = json.loads((folder / "run" / "export.json").read_text())
    assert [p["step"] for p in provenance["probe"]] == [0, 2, 4, 6]
    assert provenance["backbone"] == str(result.backbone) and len(provenance["weights_sha256"]) == 64


def test_the_probe_does_not_change_what_is_trained(probed_run, tmp_path, monkeypatch):
    result, _, folder = probed_run
    cfg = tiny_config()
    cfg.probe.every = 0
    cfg.text.tokenizer = folder / "run" / "tokenizer.json"  # the same vocabulary (trained tokenizers may differ)
    monkeypatch.setenv("ECAMP_BENCH_PRETRAINED", str(tmp_path / "pretrained"))
    plain, _ = run_pretraining(cfg, tmp_path / "run", pairs=tiny_pairs(folder / "pairs"))
    assert not (tmp_path / "run" / "probe.jsonl").exists()
    with_probe, _ = load_backbone_file(result.backbone)
    without, _ = load_backbone_file(plain.backbone)
    assert with_probe.keys() == without.keys()
    assert all(torch.equal(with_probe[k], without[k]) for k in with_probe)


def test_read_probe_log_keeps_the_last_row_of_a_repeated_step_and_names_bad_lines(tmp_path):
    path = tmp_path / "probe.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ({"step": 4, "auc": 0.6}, {"step": 0, "auc": 0.5},
                                                             {"step": 4, "auc": 0.7})))
    assert [(r["step"], r["auc"]) for r in read_probe_log(path)] == [(0, 0.5), (4, 0.7)]
    path.write_text('{"step": 0, "auc": 0.5}\nnot json\n')
    with pytest.raises(DataError, match="line 2"):
        read_probe_log(path)
