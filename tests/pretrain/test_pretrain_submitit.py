"""``pretrain --executor local``: a 2-process DDP job whose ranks meet through submitit's job environment; a job
preempted mid-way (USR2, as SLURM sends before a time limit or preemption) checkpoints, is requeued by the executor
and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch

from _pretrain_tiny import tiny_config

from ecamp_bench.cluster import ClusterOptions
from ecamp_bench.pretrain.checkpointing import latest_checkpoint, load_checkpoint
from ecamp_bench.pretrain.slurm import submit_pretraining, wait_for
from ecamp_bench.pretrain.sources import read_pairs
from ecamp_bench.text.tokenizer import save_tokenizer, train_wordpiece

pytestmark = [pytest.mark.slow, pytest.mark.ddp]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the local executor's controller → its task processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_preempted_ddp_job_is_requeued_and_ends_with_the_weights_of_an_uninterrupted_run(synthetic_tiny, tmp_path):
    cfg = tiny_config(export=False, checkpoint_every=4)
    cfg.data.root, cfg.data.contexts = synthetic_tiny, tmp_path / "contexts.jsonl"
    cfg.optim.batch_size, cfg.optim.accum_steps, cfg.optim.epochs = 2, 1, 6
    pairs = read_pairs(cfg.data, synthetic_tiny)  # distils the contexts once, before two jobs read them
    texts = [p.report for p in pairs] + [p.context for p in pairs if p.context]
    save_tokenizer(train_wordpiece(texts, 300, 1), tmp_path / "tokenizer.json")  # one tokenizer for both runs
    cfg.text.tokenizer = tmp_path / "tokenizer.json"
    options = ClusterOptions(executor="local", time_min=15, retries=0)

    _, straight = submit_pretraining(cfg, tmp_path / "straight", options, tasks_per_node=2)
    resubmit, victim = submit_pretraining(cfg, tmp_path / "preempted", options, tasks_per_node=2)
    first = tmp_path / "preempted" / "checkpoints" / "ckpt-00000004.pt"
    deadline = time.monotonic() + 240
    while not first.exists():
        assert not victim.done() and time.monotonic() < deadline, victim.paths.stdout.read_text()
        time.sleep(0.02)
    for pid in children(int(victim.job_id)):
        os.kill(pid, signal.SIGUSR2)  # what SLURM sends every task before the time limit or a preemption

    result = wait_for(victim, resubmit, retries=0)
    reference = wait_for(straight, resubmit, retries=0)
    log = victim.paths.stdout.read_text()
    stopped = re.search(r"preempted: checkpoint at step (\d+), requeueing", log)
    assert stopped, log[-3000:]
    assert 4 <= int(stopped.group(1)) < reference.steps  # stopped mid-way, at a step boundary
    assert f"(step {stopped.group(1)})" in log.split("resuming", 1)[1]  # the requeued job resumed where it stopped
    assert "global_rank=0(2)" in log  # two DDP processes found each other through submitit's job environment
    assert result.steps == reference.steps == 48  # 31 pairs / 2 ranks / batch 2 = 8 steps × 6 epochs

    a = load_checkpoint(latest_checkpoint(tmp_path / "straight"))["model"]
    b = load_checkpoint(latest_checkpoint(tmp_path / "preempted"))["model"]
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []


def test_cli_pretrain_through_the_local_executor(synthetic_tiny, tmp_path, capsys):
    import yaml

    from ecamp_bench.cli import main
    from ecamp_bench.config import to_dict

    cfg = tiny_config(export=False, max_steps=2)
    cfg.data.root, cfg.data.contexts = synthetic_tiny, tmp_path / "contexts.jsonl"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(to_dict(cfg)))
    args = ["pretrain", "--config", str(config), "--out", str(tmp_path / "run"), "--executor", "local"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"submitted job \d+ \(local, 1 node\(s\)\)", out) and "losses (2 steps" in out
    assert latest_checkpoint(tmp_path / "run").name == "ckpt-00000002.pt"
    assert main(args) == 2  # the run folder holds checkpoints: refused before anything is submitted
    assert "pass --resume to continue it" in capsys.readouterr().err
