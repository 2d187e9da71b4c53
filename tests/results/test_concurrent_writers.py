"""Many processes writing records into one results folder at once lose nothing; a writer killed mid-write leaves
no partial record (the scan sees only complete records, hidden temporaries are ignored)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from ecamp_bench.results.store import scan

WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from _records import fake_record
from ecamp_bench.results.record import record_path, write_record

results, who, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    key = f"{{who:04d}}{{i:012d}}" if i % 2 else f"shared{{i % 5:010d}}"  # odd: own file; even: 5 files for everyone
    write_record(fake_record(run_key=key, seed=who, error=None, env={{"pad": "x" * {pad}}}),
                 record_path(results, "rsna-cls", "random-init", key))
"""


def _writer(pad: int) -> str:
    return WRITER.format(tests=str(Path(__file__).parents[1]), pad=pad)


def test_many_processes_writing_at_once_lose_nothing(tmp_path):
    results, writers, count = tmp_path / "results", 8, 40
    procs = [subprocess.Popen([sys.executable, "-c", _writer(2000), str(results), str(w), str(count)])
             for w in range(writers)]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    found = scan(results)
    assert found.skipped == []
    keys = [rec.run_key for _, rec in found.records]
    assert len(keys) == writers * count // 2 + 5  # every own record, plus the 5 shared files
    own = {(rec.seed, rec.run_key) for _, rec in found.records if not rec.run_key.startswith("shared")}
    assert own == {(w, f"{w:04d}{i:012d}") for w in range(writers) for i in range(1, count, 2)}
    assert list(results.rglob(".*")) == []  # no temporary left behind


def test_a_writer_killed_mid_write_leaves_no_partial_record(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-c", _writer(4_000_000), str(results), "1", "100000"])
    folder = results / "runs" / "rsna-cls" / "random-init"
    deadline = time.monotonic() + 60
    while not (folder.is_dir() and len(list(folder.glob("*.json"))) >= 3):  # a few 4 MB records written
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    found = scan(results)
    assert found.skipped == [] and len(found.records) >= 3
    assert all(json.loads(path.read_text())["status"] == "ok" for path, _ in found.records)
