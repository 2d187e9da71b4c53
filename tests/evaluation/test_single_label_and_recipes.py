"""Single-label tasks (softmax, cross-entropy, accuracy) and per-fraction task recipes through the runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import ecamp_bench  # noqa: F401
from _backbones import export_tiny_backbone
from _release_fixtures import covidx_tree
from ecamp_bench.evaluation.linear_probe import classification_loss, probabilities, train_linear_head
from ecamp_bench.evaluation.metrics import accuracy_with_ci, single_label_metrics
from ecamp_bench.errors import ConfigError
from ecamp_bench.evaluation.recipes import load_recipe
from ecamp_bench.evaluation.runner import RunRequest, prepare_run
from ecamp_bench.plugins import get_catalog
from ecamp_bench.specs import MetricSpec, TaskSpec
from ecamp_bench_plugins.protocols.finetune import _val_objective

ONE_HOT = np.eye(3, dtype=np.float32)


def test_accuracy_hand_computed_with_first_index_on_ties():
    targets = ONE_HOT[[0, 1, 2, 0]]
    scores = np.array([[0.5, 0.5, 0.0], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])  # argmax 0, 1, 0, 2
    value, ci = accuracy_with_ci(targets, scores, n_bootstrap=0)
    assert value == 0.5 and ci is None
    value, ci = accuracy_with_ci(targets, scores, n_bootstrap=2000, seed=1)
    assert 0.0 <= ci[0] < 0.5 < ci[1] <= 1.0


def test_single_label_auc_is_sklearn_one_vs_rest_macro():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 60)
    logits = rng.normal(size=(60, 3)) + 1.5 * np.eye(3)[truth]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    accuracy, auc = single_label_metrics(ONE_HOT[truth], scores, ("a", "b", "c"), n_bootstrap=200, seed=0)
    assert accuracy.name == "accuracy" and accuracy.value == pytest.approx(float((scores.argmax(1) == truth).mean()))
    assert (auc.name == "auc"
            and auc.value == pytest.approx(roc_auc_score(truth, scores, multi_class="ovr", average="macro")))
    assert auc.ci95[0] < auc.value < auc.ci95[1] and accuracy.n == auc.n == 60


def test_single_label_loss_probabilities_and_selection():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.5, 3.0]])
    targets = torch.tensor(ONE_HOT[[0, 2]])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    assert torch.isclose(classification_loss(True)(logits, targets), expected)
    assert torch.isclose(classification_loss(False)(logits, targets),
                         torch.nn.functional.binary_cross_entropy_with_logits(logits, targets))
    assert torch.allclose(probabilities(logits, True).sum(dim=1), torch.ones(2))
    # val selection of a single-label fine-tune: accuracy first, then log-likelihood
    better = _val_objective(ONE_HOT[[0, 2]], np.array([[0.6, 0.2, 0.2], [0.3, 0.3, 0.4]]), True)
    worse = _val_objective(ONE_HOT[[0, 2]], np.array([[0.6, 0.2, 0.2], [0.5, 0.1, 0.4]]), True)
    assert better[0] == 1.0 and worse[0] == 0.5 and better > worse


def test_single_label_linear_head_learns_three_classes():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 120)
    x = torch.tensor(rng.normal(size=(120, 4)) + 3.0 * np.eye(3, 4)[truth], dtype=torch.float32)
    y = torch.tensor(ONE_HOT[truth])

    class P:
        lr, betas, weight_decay, batch_size, max_epochs, patience = 5e-2, (0.9, 0.999), 0.0, 16, 60, 60

    head = train_linear_head(x[:80], y[:80], x[80:100], y[80:100], P, seed=0, device=torch.device("cpu"),
                             single_label=True)
    with torch.no_grad():
        predicted = probabilities(head(x[100:]), True).argmax(dim=1).numpy()
    assert (predicted == truth[100:]).mean() >= 0.9


def _spec(**changes) -> TaskSpec:
    values = dict(name="t", version=1, kind="classification", layout="l", labels=("a",),
                  metrics=(MetricSpec(name="auc", primary=True),), protocols=("finetune",), implementation="m:x")
    return TaskSpec(**{**values, **changes})


def test_label_type_is_checked():
    assert not _spec().single_label
    with pytest.raises(ValueError, match="label_type 'multi-class'"):
        _spec(label_type="multi-class")


def test_recipe_cell_picks_the_largest_listed_fraction_not_above_the_run():
    recipe = load_recipe("mrm")
    fractions = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0)
    steps = [recipe.cell("nih-cxr14-cls", "finetune", f).overrides()["steps"] for f in fractions]
    assert steps == [3000, 3000, 3000, 30000, 30000, 200000]
    assert recipe.cell("nih-cxr14-cls", "linear", 0.1) is None


def test_recipe_then_preset_then_set(synthetic_tiny):
    export_tiny_backbone()
    catalog = get_catalog()

    def plan(fraction, preset="default", overrides=(), recipe="mrm"):
        request = RunRequest(task="nih-cxr14-cls", protocol="finetune", fraction=fraction, data_root=synthetic_tiny,
                             preset=preset, overrides=list(overrides), recipe=recipe, split="ours")
        return prepare_run(request, catalog)

    def protocol(*args, **kwargs):
        return plan(*args, **kwargs).config["protocol"]

    assert ({k: protocol(0.01)[k] for k in ("steps", "lr", "warmup_steps")}
            == {"steps": 3000, "lr": 3e-2, "warmup_steps": 50})
    assert ({k: protocol(0.1)[k] for k in ("steps", "lr", "warmup_steps")}
            == {"steps": 30000, "lr": 3e-3, "warmup_steps": 500})
    assert protocol(1.0)["steps"] == 200000 and protocol(1.0, overrides=["protocol.steps=7"])["steps"] == 7
    tiny = protocol(0.01, preset="tiny")  # the preset sits over the recipe: its values win, the recipe's others stay
    assert tiny["steps"] == 30 and tiny["lr"] == 1e-2 and tiny["grad_clip"] == 1.0 and tiny["pooling"] == "mean"
    demo = protocol(0.01, preset="cpu-demo")
    assert demo["steps"] == 100 and demo["head_norm"] == "batchnorm" and demo["drop_path"] == 0.1
    assert protocol(0.01, recipe=None)["steps"] == 2000  # no recipe: the protocol's defaults
    with_recipe, without = plan(0.01, preset="tiny"), plan(0.01, preset="tiny", recipe=None)
    assert with_recipe.config["recipe"]["name"] == "mrm" and "recipe" not in without.config
    assert with_recipe.key != without.key  # the recipe (name and sha256) enters the run key


def test_a_recipe_value_naming_no_parameter_is_refused(tmp_path, synthetic_tiny):
    export_tiny_backbone()
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ncells:\n  - {task: rsna-cls, protocol: finetune, fraction: 0.01, source: x, "
                    "values: {stepz: 3}}\n")
    request = RunRequest(task="rsna-cls", protocol="finetune", fraction=0.01, data_root=synthetic_tiny,
                         recipe=str(path))
    with pytest.raises(ConfigError, match="stepz"):
        prepare_run(request, get_catalog())


def test_a_recipes_published_lists_apply_and_their_absence_names_split_ours(synthetic_tiny, monkeypatch):
    export_tiny_backbone()
    monkeypatch.delenv("ECAMP_BENCH_SPLITS", raising=False)
    request = RunRequest(task="rsna-cls", protocol="finetune", fraction=0.01, data_root=synthetic_tiny, recipe="ecamp")
    with pytest.raises(ConfigError, match="--split ours"):
        prepare_run(request, get_catalog())


def test_nih_split_uses_the_official_test_list(synthetic_tiny):
    export_tiny_backbone()
    plan = prepare_run(RunRequest(task="nih-cxr14-cls", fraction=1.0, data_root=synthetic_tiny), get_catalog())
    split, table = plan.split, plan.prepared.table
    official = {s.image_id for s in table if s.split == "test"}
    assert set(split.test.ids) == official
    train_val_patients = set(split.train.patients) | set(split.val.patients)
    assert not train_val_patients & set(split.test.patients) and len(split.val) > 0
    assert all(s.split == "train_val" for s in (*split.train, *split.val))


def test_covidx_binary_release_takes_its_classes_and_official_val(tmp_path):
    from ecamp_bench_plugins.layouts import covidx

    root = covidx_tree(tmp_path / "covidx-cxr", "covidx-cxr4")
    export_tiny_backbone()
    plan = prepare_run(RunRequest(task="covidx-cls", fraction=1.0, data_root=Path(root)), get_catalog())
    assert plan.task.labels == ("negative", "positive") and plan.task.single_label
    assert set(plan.split.val.ids) == {covidx.parse_line(x)[1] for x in (root / "val.txt").read_text().splitlines()}
    assert len(plan.split.test) == 3 and plan.impl.targets(plan.task, plan.split.test).sum(axis=0).tolist() == [1, 2]
