"""Published split lists of the new tasks import through ``import_split_lists``: MRM's NIH lists (image name + 14
labels) and ECAMP's COVIDx v7 lists (``train/<filename> <class index>``), written here in those formats."""

from __future__ import annotations

from _release_fixtures import covidx_tree, nih_tree
from ecamp_bench.data.layouts import covidx, nih_cxr14
from ecamp_bench.data.split_lists import import_split_lists


def test_mrm_nih_lists_import(tmp_path):
    table = nih_cxr14.read(nih_tree(tmp_path / "nih"))
    lists = tmp_path / "mrm"
    lists.mkdir()
    for name, ids in {"train_list.txt": ["00000001_000.png", "00000001_001.png"], "val_list.txt": ["00000004_000.png"],
                      "test_list.txt": ["00000002_000.png", "00000003_000.png"], "train_1.txt": ["00000001_001.png"]}.items():
        rows = {s.image_id: s for s in table}
        (lists / name).write_text("".join(
            f"{i} {' '.join(str(int(rows[i].label(lab))) for lab in nih_cxr14.LABELS)}\n" for i in ids))
    split = import_split_lists(table, train=lists / "train_list.txt", val=lists / "val_list.txt",
                               test=lists / "test_list.txt", fractions={0.01: lists / "train_1.txt"},
                               labels=nih_cxr14.LABELS)
    assert split.test == ("00000002_000.png", "00000003_000.png") and split.val == ("00000004_000.png",)
    assert split.explicit_fractions[0.01] == ("00000001_001.png",) and split.params["groups_in_several_splits"] == 0


def test_ecamp_covidx_v7_lists_import(tmp_path):
    root = covidx_tree(tmp_path / "v7a", "covidx-v7a")
    table = covidx.read(root)
    index = {name: i for i, name in enumerate(covidx.THREE_CLASS)}
    by_split = {}
    for sample in table:
        by_split.setdefault(sample.split, []).append(f"{sample.split}/{sample.image_id} {index[sample.meta['class']]}\n")
    for split, lines in by_split.items():
        (tmp_path / f"{split}_list.txt").write_text("".join(lines))
    result = import_split_lists(table, train=tmp_path / "train_list.txt", test=tmp_path / "test_list.txt",
                                labels=covidx.THREE_CLASS)
    assert set(result.test) == {s.image_id for s in table if s.split == "test"} and len(result.train) == 6
    assert "COVID(70).png" in result.train
