"""Grid expansion, option parsing and the shard split (every cell in exactly one shard)."""

from __future__ import annotations

import pytest

from ecamp_bench.errors import ConfigError, EcampBenchError
from ecamp_bench.plugins import get_catalog
from ecamp_bench.sweep.grid import Cell, expand_grid, parse_fractions, parse_seeds, resolve_tasks, short_backbone
from ecamp_bench.sweep.shard import parse_shard, shard_cells


def grid():
    pairs = [("chexpert-cls", "linear"), ("rsna-cls", "linear"), ("rsna-cls", "finetune")]
    return expand_grid(pairs, ["random-init", "file:/x/ecamp small.safetensors", "mrm"], [0.01, 0.1, 1.0],
                       [0, 1, 2, 3, 4])


def test_expand_grid_is_sorted_product_without_duplicates():
    cells = grid()
    assert len(cells) == 3 * 3 * 3 * 5 == len(set(cells))
    assert cells == sorted(cells)
    assert expand_grid([("a", "p")], ["b", "b"], [0.1, 0.1], [0]) == [Cell("a", "p", "b", 0.1, 0)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16, 200])
def test_every_cell_in_exactly_one_shard(count):
    cells = grid()
    shards = [shard_cells(list(reversed(cells)), i, count) for i in range(count)]  # input order must not matter
    flat = [c for shard in shards for c in shard]
    assert len(flat) == len(cells) and set(flat) == set(cells)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    assert shards == [shard_cells(cells, i, count) for i in range(count)]  # deterministic


def test_parse_shard_and_axes():
    assert parse_shard(None) == (0, 1) and parse_shard("3/8") == (3, 8) and parse_shard(" 0 / 1 ") == (0, 1)
    for bad in ("8/8", "1/0", "-1/4", "a/b", "2"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)
    assert parse_fractions("1%, 0.1,1,100%") == [0.01, 0.1, 1.0]
    assert parse_seeds("0-2,5,1") == [0, 1, 2, 5]
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds("x")
    with pytest.raises(ConfigError, match="--fractions"):
        parse_fractions(" , ")
    assert short_backbone("file:/a/b/My Model.safetensors") == "file:my-model" and short_backbone("mrm") == "mrm"


def test_resolve_tasks_all_and_protocol_checks():
    catalog = get_catalog()
    pairs, skipped = resolve_tasks(catalog, "all", None)
    assert ("rsna-cls", "linear") in pairs and ("chexpert-cls", "linear") in pairs and not skipped
    pairs, _ = resolve_tasks(catalog, "rsna-cls", "finetune")
    assert pairs == [("rsna-cls", "finetune")]
    with pytest.raises(EcampBenchError, match="unknown task 'rsna-clss'"):
        resolve_tasks(catalog, "rsna-clss", None)


def test_file_globs_expand_to_every_matching_backbone_file(tmp_path):
    from ecamp_bench.sweep.grid import expand_backbone_globs

    for name in ("ecamp-b.safetensors", "ecamp-a.safetensors", "notes.txt"):
        (tmp_path / name).write_text("x")
    refs = expand_backbone_globs(["random-init", f"file:{tmp_path}/*.safetensors",
                                  f"file:{tmp_path}/ecamp-a.safetensors"])
    assert refs == ["random-init", f"file:{tmp_path}/ecamp-a.safetensors", f"file:{tmp_path}/ecamp-b.safetensors"]
    with pytest.raises(ConfigError, match="no file matches"):
        expand_backbone_globs([f"file:{tmp_path}/*.pth"])
