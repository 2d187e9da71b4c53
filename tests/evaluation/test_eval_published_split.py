"""Done means: ``eval --task rsna-cls --split mrm --fraction 0.01`` on a tree built from the real RSNA files plus
stand-ins for the images the test data lacks; the record names the list files and their sha256."""

from __future__ import annotations

import hashlib
import json

import pytest
from _backbones import export_tiny_backbone
from _realdata import realdata, rsna_tree_for_lists

from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir

pytestmark = pytest.mark.slow


def test_eval_rsna_cls_on_the_mrm_split(tmp_path, capsys):
    splits = realdata("published-splits")
    folder = splits / "MRM/RSNA_Pneumonia"
    export_tiny_backbone()
    root = rsna_tree_for_lists(tmp_path / "rsna",
                               [folder / "train_1.txt", folder / "val_list.txt", folder / "test_list.txt"])
    args = ["eval", "--task", "rsna-cls", "--split", "mrm", "--fraction", "0.01", "--splits-root", str(splits),
            "--data-root", str(root), "--preset", "tiny", "--set", "eval.n_bootstrap=20"]
    assert main(args) == 0, capsys.readouterr()
    captured = capsys.readouterr()
    assert "rsna-cls 1% linear file:tiny-vit seed 0: auc" in captured.out
    assert "published split mrm" in captured.err and "3000 images only in the list" in captured.err
    (path,) = (results_dir() / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    published = record["split"]["published"]
    assert published["name"] == "mrm" and published["fraction_list"] == 0.01
    files = {f["role"]: f for f in published["files"]}
    assert set(files) == {"train@0.01", "val", "test"}
    for f, name in ((files["train@0.01"], "train_1.txt"), (files["val"], "val_list.txt"),
                    (files["test"], "test_list.txt")):
        assert f["path"].endswith(f"MRM/RSNA_Pneumonia/{name}")
        assert f["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert published["label_source"]["test"] == {"source": "list", "images_only_in_list": 3000, "disagree_with_csv": 0}
    assert (record["split"]["n_train"], record["split"]["n_val"], record["split"]["n_test"]) == (251, 1500, 3000)
    assert record["metrics"][0]["n"] == 3000 and record["dataset"]["small_test_set"] == []
    assert record["config"]["resolved"]["split"] == {"published": "mrm", "allow_overlap": False}
    manifest = json.loads(open(record["split"]["manifest"]).read())
    assert manifest["params"]["files"]["test"]["sha256"] == files["test"]["sha256"]  # list sha256 → split sha → run key
    test_positives = sum(line.split()[1] == "1" for line in (folder / "test_list.txt").read_text().splitlines())
    assert record["dataset"]["positives"]["test"] == {"Pneumonia": test_positives}
    assert main(["leaderboard", "--format", "md"]) == 0
    board = capsys.readouterr().out
    assert "rsna-cls 1% [mrm split] auc ↑" in board and "| file:tiny-vit |" in board


def test_eval_nih_cxr14_cls_on_mrm_format_lists(tmp_path, capsys):
    """``eval --task nih-cxr14-cls --split mrm`` on a synthetic NIH tree with lists written in MRM's format (image
    name, then the 14 labels in MRM's CLASS_NAMES order); the test list marks one more image Hernia than the CSV."""
    from ecamp_bench_plugins.layouts import nih_cxr14
    from ecamp_bench_plugins.tasks.nih_cxr14_cls import LABELS

    export_tiny_backbone()
    root = tmp_path / "nih"
    nih_cxr14.write_synthetic(root, 80, 0)
    table = nih_cxr14.read(root)
    train_val = [s for s in table if s.split == "train_val"]
    patients = sorted({s.patient_id for s in train_val})
    val_patients = set(patients[: len(patients) // 5])
    parts = {"val_list.txt": [s for s in train_val if s.patient_id in val_patients],
             "train_list.txt": [s for s in train_val if s.patient_id not in val_patients],
             "test_list.txt": [s for s in table if s.split == "test"]}
    parts["train_1.txt"] = parts["train_list.txt"][: len(parts["train_list.txt"]) // 2]
    flipped = next(s for s in parts["test_list.txt"] if not s.label("Hernia"))
    folder = tmp_path / "splits" / "MRM" / "NIH_ChestX-ray"
    folder.mkdir(parents=True)
    for name, samples in parts.items():
        (folder / name).write_text("".join(
            f"{s.image_id} {' '.join('1' if s.label(n) or (s is flipped and n == 'Hernia') else '0' for n in LABELS)}\n"
            for s in samples))
    args = ["eval", "--task", "nih-cxr14-cls", "--split", "mrm", "--fraction", "0.01", "--splits-root",
            str(tmp_path / "splits"), "--data-root", str(root), "--preset", "tiny", "--set", "eval.n_bootstrap=20"]
    assert main(args) == 0, capsys.readouterr()
    assert "nih-cxr14-cls 1% linear file:tiny-vit seed 0: auc" in capsys.readouterr().out
    (path,) = (results_dir() / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    published = record["split"]["published"]
    assert published["name"] == "mrm" and published["fraction_list"] == 0.01
    assert {f["role"]: f["path"].split("/splits/")[1] for f in published["files"]} == {
        "train@0.01": "MRM/NIH_ChestX-ray/train_1.txt", "val": "MRM/NIH_ChestX-ray/val_list.txt",
        "test": "MRM/NIH_ChestX-ray/test_list.txt"}
    assert published["label_source"]["test"] == {"source": "list", "images_only_in_list": 0, "disagree_with_csv": 1}
    assert (record["split"]["n_train"], record["split"]["n_val"], record["split"]["n_test"]) == tuple(
        len(parts[n]) for n in ("train_1.txt", "val_list.txt", "test_list.txt"))
    csv_hernia = sum(s.label("Hernia") == 1.0 for s in parts["test_list.txt"])
    assert record["dataset"]["positives"]["test"]["Hernia"] == csv_hernia + 1  # the list's label, not the CSV's
    assert [m["name"] for m in record["metrics"]][:2] == ["auc", "auc/Atelectasis"]


def test_eval_covidx_cls_on_ecamp_format_lists(tmp_path, capsys):
    """``eval --task covidx-cls --split ecamp``: ECAMP's ``<train|test>/<file> <class index>`` lines reach the
    single-label task as one-hot labels (the runner passes the task's single_label); one test image is relabelled."""
    from ecamp_bench_plugins.layouts import covidx
    from ecamp_bench_plugins.tasks.covidx_cls import CLASSES

    export_tiny_backbone()
    root = tmp_path / "covidx"
    covidx.write_synthetic(root, 64, 0)
    table = covidx.read(root)
    train = [s for s in table if s.split == "train"]
    parts = {"val_list.txt": train[::5], "train_list.txt": [s for i, s in enumerate(train) if i % 5],
             "test_list.txt": [s for s in table if s.split == "test"]}
    flipped = next(s for s in parts["test_list.txt"] if s.meta["class"] == "normal")
    folder = tmp_path / "splits" / "ECAMP" / "Classification" / "COVIDx"
    folder.mkdir(parents=True)
    for name, samples in parts.items():
        classes = ["COVID-19" if s is flipped else s.meta["class"] for s in samples]
        lines = [f"{s.split}/{s.image_id} {CLASSES.index(c)}\n" for s, c in zip(samples, classes)]
        (folder / name).write_text("".join(lines))
    args = ["eval", "--task", "covidx-cls", "--split", "ecamp", "--fraction", "1", "--splits-root",
            str(tmp_path / "splits"), "--data-root", str(root), "--preset", "tiny", "--set", "eval.n_bootstrap=20"]
    assert main(args) == 0, capsys.readouterr()
    (path,) = (results_dir() / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["split"]["published"]["label_source"]["test"] == {"source": "list", "images_only_in_list": 0,
                                                                   "disagree_with_csv": 1}
    assert (record["split"]["n_train"], record["split"]["n_val"], record["split"]["n_test"]) == tuple(
        len(parts[n]) for n in ("train_list.txt", "val_list.txt", "test_list.txt"))
    csv_covid = sum(s.meta["class"] == "COVID-19" for s in parts["test_list.txt"])
    assert record["dataset"]["positives"]["test"]["COVID-19"] == csv_covid + 1
    assert record["primary_metric"] == "accuracy"
