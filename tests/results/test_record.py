"""Result records: run keys, atomic writes (crash mid-write), schema checks, skip-existing."""

from __future__ import annotations

import json
import os

import pytest

from ecamp_bench import atomic
from ecamp_bench.results import record as rec
from ecamp_bench.results.store import is_finished, read_record, scan

from _records import fake_record


def test_run_key_is_stable_and_sensitive_to_each_part():
    args = dict(task="t", task_version=1, protocol="linear", protocol_version=1, fraction=0.01, seed=0,
                backbone="b", weights_sha256=None, config_sha256="c", split_sha256="s")
    key = rec.run_key(**args)
    assert len(key) == 16 and key == rec.run_key(**args)
    for name, value in [("seed", 1), ("fraction", 0.1), ("weights_sha256", "w"), ("config_sha256", "d"),
                        ("split_sha256", "x"), ("protocol_version", 2), ("backbone", "c")]:
        assert rec.run_key(**{**args, name: value}) != key, name


def test_record_path_layout(tmp_path):
    path = rec.record_path(tmp_path, "rsna-cls", "file:my-vit", "abc")
    assert path == tmp_path / "runs" / "rsna-cls" / "file--my-vit" / "abc.json"
    assert rec.predictions_path(path).name == "abc.predictions.npz"


def test_crash_mid_write_leaves_old_record_intact_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "runs" / "t" / "b" / "k.json"
    rec.write_record(fake_record(), path)
    before = path.read_text()

    def crash(*_args, **_kwargs):
        raise OSError("disk full")  # the process dies after the temp file was written, before the rename

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        rec.write_record(fake_record(seed=99), path)
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["k.json"]


def test_crash_during_first_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "new.json"
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("power cut")))
    with pytest.raises(OSError):
        rec.write_record(fake_record(), path)
    assert list(tmp_path.iterdir()) == []


def test_finished_only_when_ok_and_valid(tmp_path):
    ok, failed, broken = tmp_path / "ok.json", tmp_path / "failed.json", tmp_path / "broken.json"
    rec.write_record(fake_record(), ok)
    rec.write_record(fake_record(status="failed", error="boom"), failed)
    broken.write_text('{"schema_version": 1, "run_key": ')
    assert is_finished(ok) and not is_finished(failed) and not is_finished(broken)
    assert not is_finished(tmp_path / "absent.json")
    assert read_record(ok).metrics[0].value == 0.7


def test_scan_reports_corrupt_and_foreign_files(tmp_path):
    runs = tmp_path / "runs" / "t" / "b"
    rec.write_record(fake_record(), runs / "good.json")
    (runs / "corrupt.json").write_text("{not json")
    (runs / "foreign.json").write_text(json.dumps({"hello": "world"}))
    (runs / "list.json").write_text("[1, 2]")
    scratch = runs / ".work-0123" / "vis_data"  # a running evaluation's mmengine logs: not looked at
    scratch.mkdir(parents=True)
    (scratch / "scalars.json").write_text('{"a": 1}\n{"a": 2}')
    result = scan(tmp_path)
    assert [p.name for p, _ in result.records] == ["good.json"]
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert set(reasons) == {"corrupt.json", "foreign.json", "list.json"}
    assert "not valid JSON" in reasons["corrupt.json"] and "missing key 'run_key'" in reasons["foreign.json"]


def test_nan_is_rejected_before_anything_is_written(tmp_path):
    path = tmp_path / "r.json"
    bad = fake_record(metrics=[{"name": "auc", "value": float("nan")}])
    with pytest.raises(ValueError):
        rec.write_record(bad, path)
    assert not path.exists() and not os.listdir(tmp_path)


def test_typed_record_round_trips_through_the_one_writer_and_reader(tmp_path):
    path = tmp_path / "r.json"
    rec.write_record(fake_record(), path)
    first = read_record(path)
    assert isinstance(first, rec.ResultRecord) and first.schema_version == rec.SCHEMA_VERSION
    assert first.task == rec.NameVersion("rsna-cls", 1) and first.metrics[0].ci95 == (0.6, 0.8)
    rec.write_record(first, tmp_path / "again.json")
    assert read_record(tmp_path / "again.json") == first
    assert json.loads((tmp_path / "again.json").read_text()) == first.to_json()


def test_schema_1_record_is_read_and_upgraded():
    old = fake_record(metrics=[{"name": "auc", "value": 0.7, "higher_is_better": True, "ci95": None, "n": 3},
                               {"name": "dice_dataset", "value": 0.5, "higher_is_better": True, "ci95": None, "n": 3}])
    record = rec.record_from_json(old, "old.json")
    assert old["schema_version"] == 1 and record.schema_version == 2
    assert [m.paired_test for m in record.metrics] == ["auc", None]  # schema 1 stored no test: only AUC's is implied


def test_unknown_schema_or_bad_field_fails_naming_the_file_and_key(tmp_path):
    path = tmp_path / "future.json"
    path.write_text(json.dumps(fake_record(schema_version=7)))
    with pytest.raises(rec.RecordError, match=r"future\.json: schema_version is 7; this ecamp-bench reads \[1, 2\]"):
        read_record(path)
    with pytest.raises(rec.RecordError, match=r"x\.json: key 'backbone' should be Mapping"):
        rec.record_from_json(fake_record(backbone="vit"), "x.json")
    with pytest.raises(rec.RecordError):  # nothing unreadable is ever written
        rec.write_record(fake_record(seed="zero"), tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_record_with_a_non_finite_value_is_refused_with_its_path_never_averaged(tmp_path, value, capsys,
                                                                                   monkeypatch):
    from ecamp_bench.cli import main

    runs = tmp_path / "runs" / "rsna-cls" / "random-init"
    for seed, metric in ((0, "0.7"), (1, "0.8"), (2, value)):
        text = json.dumps(fake_record(run_key=f"{seed:016x}", seed=seed)).replace('"value": 0.7', f'"value": {metric}')
        (runs / f"{seed:016x}.json").parent.mkdir(parents=True, exist_ok=True)
        (runs / f"{seed:016x}.json").write_text(text)
    bad = runs / f"{2:016x}.json"
    with pytest.raises(rec.RecordError, match=f"{bad}: holds the non-finite value {value}"):
        read_record(bad)
    result = scan(tmp_path)
    assert [r.seed for _, r in result.records] == [0, 1]
    assert [s.path for s in result.skipped] == [bad]
    monkeypatch.setenv("ECAMP_BENCH_RESULTS", str(tmp_path))
    assert main(["leaderboard", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert str(bad) in captured.err and "nan" not in captured.out.lower()
