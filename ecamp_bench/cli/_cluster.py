"""Command-line options shared by ``sweep`` and ``pretrain`` for submitting jobs through submitit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ExecutorOpt = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Submit jobs through submitit: slurm (a SLURM cluster) or local (subprocesses "
        "on this machine). Default: run in this process.",
    ),
]
ClusterConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--cluster-config",
        help="YAML with cluster defaults (partition, time_min, gpus_per_node, "
        "cpus_per_task, mem_gb, account, qos, setup, sbatch, ...). Default: "
        "$ECAMP_BENCH_CLUSTER_CONFIG, else configs/cluster.yaml if present.",
    ),
]
PartitionOpt = Annotated[str | None, typer.Option("--partition", help="SLURM partition.")]
TimeOpt = Annotated[int | None, typer.Option("--time", help="Wall-time limit of each job, minutes (default 60).")]
GpusOpt = Annotated[int | None, typer.Option("--gpus-per-node", help="GPUs per node of each job (default 0).")]
CpusOpt = Annotated[int | None, typer.Option("--cpus-per-task", help="CPUs per task of each job.")]
MemOpt = Annotated[float | None, typer.Option("--mem-gb", help="Memory per node of each job, GB.")]
RetriesOpt = Annotated[
    int | None,
    typer.Option("--retries", help="Resubmit a job that ended without its record up to N times (default 1)."),
]


def cluster_from_cli(executor: str, config: Path | None, **values):
    """:class:`~ecamp_bench.cluster.ClusterOptions` from the config file and the options given on the command line."""
    from ecamp_bench.cluster import cluster_options

    return cluster_options(config, executor=executor, **values)
