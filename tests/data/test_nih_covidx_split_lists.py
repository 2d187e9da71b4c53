"""Published split lists of the new tasks, written here in their official formats: MRM's NIH lists (image name + 14
labels) and ECAMP's COVIDx v7 lists (``train/<filename> <class index>``), under ``--split mrm|ecamp``
(``resolve_published_split``) with the labels their lines carry."""

from __future__ import annotations

import pytest
from _release_fixtures import covidx_tree, nih_tree

from ecamp_bench_plugins.layouts import covidx, nih_cxr14
from ecamp_bench.data.published_splits import apply_to_table, builtin_splits, resolve_published_split
from ecamp_bench.errors import DataError
from ecamp_bench_plugins.tasks import covidx_cls
from ecamp_bench_plugins.tasks import nih_cxr14_cls as nih_cls


# --- the same lists under ``--split mrm|ecamp`` (resolve_published_split), hand-written in the official formats ---
# MRM ``DatasetsSplits/NIH_ChestX-ray/*.txt``: image name, then 14 values in the order of MRM's train.py CLASS_NAMES
# (Atelectasis, Cardiomegaly, Effusion, Infiltration, Mass, Nodule, Pneumonia, Pneumothorax, Consolidation, Edema,
# Emphysema, Fibrosis, Pleural_Thickening, Hernia). The values agree with the fixture's Data_Entry_2017.csv except
# 00000002_000.png ("No Finding" in the CSV), which the test list marks Pneumonia.
MRM_NIH = {
    "train_list.txt": "00000001_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0\n"
                      "00000001_001.png 0 1 0 0 0 0 0 0 0 0 1 0 0 0\n"
                      "00000001_002.png 0 1 1 0 0 0 0 0 0 0 0 0 0 0\n",
    "train_1.txt": "00000001_001.png 0 1 0 0 0 0 0 0 0 0 1 0 0 0\n",
    "train_10.txt": "00000001_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0\n00000001_001.png 0 1 0 0 0 0 0 0 0 0 1 0 0 0\n",
    "val_list.txt": "00000004_000.png 0 0 0 0 1 1 0 0 0 0 0 0 0 0\n",
    "test_list.txt": "00000002_000.png 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n"
                     "00000003_000.png 0 0 0 1 1 0 0 0 0 0 0 0 0 1\n"
                     "00000003_001.png 0 0 0 0 0 0 0 0 0 0 0 0 1 0\n",
}
# ECAMP ``Fine-tuning/Classification/datasets/COVIDx/*.txt``: ``<train|test>/<filename> <class index>`` with
# 0 normal, 1 pneumonia, 2 COVID-19. They agree with the v7A fixture's labels except ...004.png (normal in
# test_COVIDx7A.txt), which the test list calls pneumonia.
_UID = "0a1f3b9c-1111-4c2e-9d1e-0000000000"
_ANON45 = ("CR.1.2.840.113564.1722810170.20200320071047906500.1003000225002.png",
           "DX.1.2.840.113564.1722810162.20200322024635362290.1203801020003.png")
ECAMP_COVIDX = {
    "train_list.txt": f"train/{_UID}01.png 0\ntrain/SARS-10.1148rg.242035193-g04mr34g05x-Fig5-day0.jpeg 1\n"
                      "train/COVID(70).png 2\n",
    "train_list_1.txt": f"train/{_UID}01.png 0\ntrain/COVID(70).png 2\n",
    "val_list.txt": f"train/{_UID}02.png 1\ntrain/{_ANON45[0]} 2\ntrain/{_ANON45[1]} 2\n",
    "test_list.txt": f"test/{_UID}03.png 0\ntest/{_UID}04.png 1\ntest/{_UID}05.png 1\ntest/COVID-00037.jpg 2\n",
}


def _write_lists(folder, files: dict[str, str]):
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_mrm_nih_lists_under_split_mrm_carry_the_14_labels_in_task_order(tmp_path):
    table = nih_cxr14.read(nih_tree(tmp_path / "nih"))
    _write_lists(tmp_path / "splits" / builtin_splits()["mrm"]["nih-cxr14-cls"], MRM_NIH)
    split = resolve_published_split("mrm", task="nih-cxr14-cls", labels=nih_cls.LABELS, table=table, fraction=0.01,
                                    root=tmp_path / "splits")
    assert builtin_splits()["mrm"]["nih-cxr14-cls"] == "MRM/NIH_ChestX-ray"
    assert (split.train, split.val) == (("00000001_001.png",), ("00000004_000.png",)) and split.fraction_list == 0.01
    assert split.test == ("00000002_000.png", "00000003_000.png", "00000003_001.png") and not split.extra_samples
    assert split.label_source["test"] == {"source": "list", "images_only_in_list": 0, "disagree_with_csv": 1}
    assert split.label_source["train"]["disagree_with_csv"] == split.label_source["val"]["disagree_with_csv"] == 0
    by_id = {s.image_id: s for s in apply_to_table(split, table, nih_cls.LABELS)}
    assert {n for n, v in by_id["00000002_000.png"].labels.items() if v} == {"Pneumonia"}  # the list's, not the CSV's
    assert {n for n, v in by_id["00000003_000.png"].labels.items() if v} == {"Hernia", "Infiltration", "Mass"}
    positives = apply_to_table(split, table, nih_cls.LABELS).select(split.test).label_matrix(nih_cls.LABELS).sum(axis=0)
    assert {n: int(v) for n, v in zip(nih_cls.LABELS, positives) if v} == {
        "Infiltration": 1, "Mass": 1, "Pneumonia": 1, "Pleural_Thickening": 1, "Hernia": 1}
    full = resolve_published_split("mrm", task="nih-cxr14-cls", labels=nih_cls.LABELS, table=table, fraction=1.0,
                                   root=tmp_path / "splits")
    assert len(full.train) == 3 and full.fraction_list is None


def test_ecamp_covidx_lists_under_split_ecamp_read_class_indices_one_hot(tmp_path):
    table = covidx.read(covidx_tree(tmp_path / "v7a", "covidx-v7a"))
    _write_lists(tmp_path / "splits" / builtin_splits()["ecamp"]["covidx-cls"], ECAMP_COVIDX)
    split = resolve_published_split("ecamp", task="covidx-cls", labels=covidx_cls.CLASSES, table=table,
                                    fraction=0.01, root=tmp_path / "splits", single_label=True)
    assert builtin_splits()["ecamp"]["covidx-cls"] == "ECAMP/Classification/COVIDx"
    assert split.train == (f"{_UID}01.png", "COVID(70).png") and len(split.val) == 3 and len(split.test) == 4
    assert split.labels[f"{_UID}02.png"] == (0.0, 1.0, 0.0) and split.labels["COVID-00037.jpg"] == (0.0, 0.0, 1.0)
    assert split.label_source["test"] == {"source": "list", "images_only_in_list": 0, "disagree_with_csv": 1}
    relabelled = apply_to_table(split, table, covidx_cls.CLASSES).select(split.test)
    counts = dict(zip(covidx_cls.CLASSES, relabelled.label_matrix(covidx_cls.CLASSES).sum(axis=0)))
    assert counts == {"normal": 1, "pneumonia": 2, "COVID-19": 1}  # the CSV says 2 normal, 1 pneumonia
    with pytest.raises(DataError, match=r"train_list_1.txt, row 1: the line carries 1 label values, the task takes 3"):
        resolve_published_split("ecamp", task="covidx-cls", labels=covidx_cls.CLASSES, table=table, fraction=0.01,
                                root=tmp_path / "splits")  # a multi-label reading of the same line


@pytest.mark.parametrize("task,part,bad_line,message", [
    ("nih-cxr14-cls", "test_list.txt", "00000003_000.png 0 0 0 1 1 0 0 0 0 0 0 0 1",
     r"test_list.txt, row 2: the line carries 13 label values, the task takes 14 \(Atelectasis, "),
    ("covidx-cls", "test_list.txt", f"test/{_UID}04.png 3",
     r"test_list.txt, row 2: unknown class index 3 \(the task's classes: 0 normal, 1 pneumonia, 2 COVID-19\)"),
    ("covidx-cls", "val_list.txt", f"train/{_UID}02.png 1.5", r"val_list.txt, row 2: unknown class index 1.5"),
    ("covidx-cls", "val_list.txt", f"train/{_UID}02.png 0 1", r"carries 2 label values, the task takes 3 \(normal, "
                                                              r"pneumonia, COVID-19\) or 1 class index"),
])
def test_a_bad_label_line_names_file_and_line(tmp_path, task, part, bad_line, message):
    if task == "nih-cxr14-cls":
        table, labels, files, name = nih_cxr14.read(nih_tree(tmp_path / "nih")), nih_cls.LABELS, dict(MRM_NIH), "mrm"
    else:
        table = covidx.read(covidx_tree(tmp_path / "v7a", "covidx-v7a"))
        labels, files, name = covidx_cls.CLASSES, dict(ECAMP_COVIDX), "ecamp"
    lines = files[part].splitlines()
    files[part] = "\n".join([lines[0], bad_line, *lines[2:]]) + "\n"
    _write_lists(tmp_path / "splits" / builtin_splits()[name][task], files)
    with pytest.raises(DataError, match=message):
        resolve_published_split(name, task=task, labels=labels, table=table, fraction=1.0, root=tmp_path / "splits",
                                single_label=task == "covidx-cls")


def test_three_class_lists_on_a_binary_covidx_release_are_refused(tmp_path):
    table = covidx.read(covidx_tree(tmp_path / "cxr4", "covidx-cxr4"))
    test = next(s for s in table if s.split == "test")
    _write_lists(tmp_path / "splits" / builtin_splits()["ecamp"]["covidx-cls"], {
        "train_list.txt": "".join(f"train/{s.image_id} 0\n" for s in table if s.split == "train"),
        "val_list.txt": "".join(f"val/{s.image_id} 0\n" for s in table if s.split == "val"),
        "test_list.txt": f"test/{test.image_id} 2\n"})
    with pytest.raises(DataError, match=r"row 1: the line labels .* with normal, pneumonia, COVID-19, but the "
                                        r"covidx-cxr data set labels it with negative, positive"):
        resolve_published_split("ecamp", task="covidx-cls", labels=covidx_cls.CLASSES, table=table, fraction=1.0,
                                root=tmp_path / "splits", single_label=True)
