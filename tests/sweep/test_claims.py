"""Claims on sweep cells: one holder at a time, stale when the holder died or stopped beating, released on exit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ecamp_bench.sweep.claims import break_claim, live_holder, read_holder, take_turns, try_claim


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_claim(path, *, pid, host, age_s=0.0, token="theirs"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "token": token, "claimed_at": time.time() - age_s}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def test_a_live_claim_excludes_others_and_is_released_on_exit(tmp_path):
    path = tmp_path / "k.claim"
    claim = try_claim(path, ttl_s=30)
    assert claim is not None
    with claim:
        holder = read_holder(path)
        assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
        assert try_claim(path, ttl_s=30) is None  # same process, second claimant: refused (the file is the lock)
        assert live_holder(path, ttl_s=30) == holder
    assert not path.exists()


def test_claim_of_a_dead_process_on_this_host_is_broken(tmp_path):
    path = tmp_path / "k.claim"
    _write_claim(path, pid=_dead_pid(), host=socket.gethostname())
    assert live_holder(path, ttl_s=3600) is None
    claim = try_claim(path, ttl_s=3600)
    assert claim is not None and read_holder(path).pid == os.getpid()
    claim.release()


def test_claim_of_another_host_expires_with_its_heartbeat(tmp_path):
    path = tmp_path / "k.claim"
    _write_claim(path, pid=1, host="some-other-node", age_s=5)
    assert try_claim(path, ttl_s=60) is None  # beat 5 s ago, lease 60 s: alive
    assert try_claim(path, ttl_s=2) is not None  # lease 2 s: stale, broken, taken


def test_heartbeat_keeps_a_long_run_alive(tmp_path):
    path = tmp_path / "k.claim"
    with try_claim(path, ttl_s=0.4):
        time.sleep(1.0)  # longer than the lease: the heartbeat (every 0.1 s) must keep it fresh
        assert live_holder(path, ttl_s=0.4) is not None
        assert try_claim(path, ttl_s=0.4) is None


def test_release_does_not_delete_a_claim_taken_over_by_another(tmp_path):
    path = tmp_path / "k.claim"
    claim = try_claim(path, ttl_s=30)
    assert break_claim(path, only_token="not-the-token") is False  # a guarded break of someone else's token
    assert break_claim(path, only_token=claim.holder.token) is True
    _write_claim(path, pid=os.getpid(), host=socket.gethostname(), token="newer")
    claim.release()
    assert read_holder(path).token == "newer"


def test_take_turns_waits_for_a_holder_and_takes_over_when_it_dies(tmp_path):
    held, free = tmp_path / "a.claim", tmp_path / "b.claim"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_claim(held, pid=sleeper.pid, host=socket.gethostname())
        threading.Timer(0.5, sleeper.kill).start()
        order = []
        for item, claim in take_turns(["a", "b"], lambda i: tmp_path / f"{i}.claim", lambda i: False, ttl_s=60,
                                      poll_s=0.1):
            assert claim is not None
            with claim:
                order.append(item)
        assert order == ["b", "a"]  # b at once; a after its holder died
        assert not held.exists() and not free.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_take_turns_reports_items_another_worker_finished(tmp_path):
    done = {"a"}
    turns = [(item, claim) for item, claim in take_turns(["a", "b"], lambda i: tmp_path / f"{i}.claim",
                                                         lambda i: i in done, ttl_s=60, poll_s=0.1)]
    assert [(item, claim is None) for item, claim in turns] == [("a", True), ("b", False)]
    turns[1][1].release()


@pytest.mark.slow
def test_two_sweeps_started_together_run_each_cell_once(synthetic_tiny, tmp_path):
    args = ["sweep", "--tasks", "rsna-cls", "--fractions", "0.1,1", "--seeds", "0,1", "--backbones", "random-init",
            "--preset", "tiny", "--data-root", str(synthetic_tiny), "--set", "eval.n_bootstrap=20", "--device", "cpu"]
    code = "import sys; from ecamp_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, *args], env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in outs]
    import re

    counts = [re.search(r"sweep: (\d+) run, (\d+) already done, 0 failed", out) for out, _ in outs]
    assert all(counts), outs
    ran = [int(m.group(1)) for m in counts]
    assert sum(ran) == 4, f"the two sweeps ran {ran} cells (4 in the grid)"
    assert all(int(m.group(1)) + int(m.group(2)) == 4 for m in counts)  # each saw the whole grid finished
    from ecamp_bench.paths import results_dir

    records = [json.loads(p.read_text()) for p in (results_dir() / "runs").rglob("*.json")]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert all(r["env"]["device"] == "cpu" for r in records)
    assert not list((results_dir() / "runs").rglob("*.claim"))
