"""The ``knn`` protocol: DINO's weighted vote, k chosen on val, multi-label and single-label, end to end on rsna-cls."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecamp_bench_plugins.protocols.knn import KnnParams, choose_k, knn_scores


def test_weighted_vote_by_hand():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
    targets = np.array([[1.0], [0.0], [0.0]])
    query = np.array([[1.0, 0.05]])
    sims = (train / np.linalg.norm(train, axis=1, keepdims=True)) @ (query[0] / np.linalg.norm(query[0]))
    top = np.argsort(-sims)[:2]
    w = np.exp(sims[top] / 0.07)
    expected = (w * targets[top, 0]).sum() / w.sum()
    assert knn_scores(train, targets, query, k=2, temperature=0.07)[0, 0] == pytest.approx(expected, rel=1e-5)


def test_single_label_scores_sum_to_one_and_k_is_capped():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(10, 4))
    onehot = np.eye(3)[rng.integers(0, 3, 10)]
    scores = knn_scores(train, onehot, rng.normal(size=(5, 4)), k=200, temperature=0.07)
    assert np.allclose(scores.sum(1), 1.0, atol=1e-5)


def test_k_is_chosen_on_val():
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0, 0], [0, 5.0, 0]])
    labels = rng.integers(0, 2, 400)
    x = centres[labels] + rng.normal(size=(400, 3)) * 2.0
    y = np.eye(2)[labels]
    k, scores = choose_k(x[:300], y[:300], x[300:], y[300:], KnnParams(ks=(1, 50)), single_label=True)
    assert set(scores) == {1, 50} and k == 50 and scores[50] > scores[1]  # noisy clusters: more neighbours win
    k, scores = choose_k(x[:300], y[:300], x[:0], y[:0], KnnParams(), single_label=False)
    assert k == 20 and scores == {}  # no val: the middle k


@pytest.mark.slow
def test_eval_rsna_cls_with_knn(synthetic_tiny):
    from _backbones import export_tiny_backbone
    from ecamp_bench.cli import main
    from ecamp_bench.paths import results_dir

    export_tiny_backbone()
    assert (
        main(
            [
                "eval",
                "--task",
                "rsna-cls",
                "--protocol",
                "knn",
                "--fraction",
                "1",
                "--data-root",
                str(synthetic_tiny),
                "--set",
                "eval.n_bootstrap=20",
            ]
        )
        == 0
    )
    (path,) = (results_dir() / "runs" / "rsna-cls").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["protocol"]["name"] == "knn"
    names = [m["name"] for m in record["metrics"]]
    assert names[0] == "auc" and "ece" in names and "brier" in names
    assert record["cost"]["params"] > 0 and record["cost"]["gflops"] > 0
    with np.load(path.with_suffix(".predictions.npz")) as saved:
        assert ((saved["scores"] >= 0) & (saved["scores"] <= 1)).all()
