"""Cluster options: config file ← command line, errors that name the file and key, and the sbatch script that
the SLURM executor writes from them (checked with a stand-in ``srun``: no cluster needed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from ecamp_bench.cli import main
from ecamp_bench.cluster import cluster_options, job_state, make_executor
from ecamp_bench.errors import ConfigError


def test_command_line_wins_over_the_config_file(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("partition: gpu\ntime_min: 240\ngpus_per_node: 1\nsetup: ['module load cuda/12.4']\n")
    options = cluster_options(config, executor="slurm", time_min=30, partition=None)
    assert (options.partition, options.time_min, options.gpus_per_node) == ("gpu", 30, 1)
    assert options.setup == ("module load cuda/12.4",)


def test_config_errors_name_the_file_and_the_key(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("partiton: gpu\n")
    with pytest.raises(ConfigError, match=r"cluster.yaml: unknown key\(s\) \['partiton'\]"):
        cluster_options(config, executor="slurm")
    with pytest.raises(ConfigError, match="--executor 'pbs'"):
        cluster_options(None, executor="pbs")


def test_sbatch_script_carries_the_options(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "srun"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    options = cluster_options(None, executor="slurm", partition="gpu", time_min=90, gpus_per_node=4, cpus_per_task=8,
                              mem_gb=64, account="lab", setup=["module load cuda"], sbatch={"exclude": "node7"})
    executor = make_executor(options, tmp_path / "jobs", name="ecamp-pretrain", nodes=2, tasks_per_node=4)
    script = executor._executor._make_submission_file_text("python -m job", "uid")
    for line in ("--partition=gpu", "--time=90", "--gpus-per-node=4", "--cpus-per-task=8", "--mem=64GB",
                 "--account=lab", "--nodes=2", "--ntasks-per-node=4", "--exclude=node7", "--signal=USR2@120"):
        assert f"#SBATCH {line}\n" in script, line
    assert "module load cuda" in script


def test_local_executor_refuses_several_nodes(tmp_path, capsys):
    assert main(["pretrain", "--executor", "local", "--nodes", "2", "--config", "cpu-small"]) == 2
    assert "--nodes 2: the local executor runs on this machine only" in capsys.readouterr().err


def test_job_state_of_a_local_job_follows_its_process(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert job_state("local", tmp_path / "%j", str(sleeper.pid)) == "RUNNING"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert job_state("local", tmp_path / "%j", str(sleeper.pid)) == "INTERRUPTED"  # gone, and no result file
    assert job_state("local", tmp_path / "%j", "1", host="another-node") == "UNKNOWN"


def test_the_example_config_is_valid():
    from pathlib import Path

    options = cluster_options(Path(__file__).parents[1] / "configs" / "cluster.example.yaml")
    assert options.partition == "gpu" and options.time_min == 240
