"""Cluster settings for jobs submitted through submitit (SLURM, or subprocesses on this machine).

:class:`ClusterOptions` holds what a user sets once per cluster: partition, time limit, GPUs, CPUs, memory,
account, QoS, constraint, setup lines (``module load ...``) and any extra ``#SBATCH`` flag. Values come from, in
increasing priority: the dataclass defaults, a YAML file (``--cluster-config``, else ``$ECAMP_BENCH_CLUSTER_CONFIG``,
else ``configs/cluster.yaml`` when present) and the command line. :func:`make_executor` turns them into a
``submitit.AutoExecutor`` with the ``local`` or ``slurm`` backend; :func:`job_state` asks about a job submitted
earlier (possibly by another process) from its id alone, which is what ``sweep --status`` and a resumed driver need.
"""

from __future__ import annotations

import os
import pickle
import socket
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ecamp_bench.errors import ConfigError

EXECUTORS = ("local", "slurm")
CONFIG_ENV = "ECAMP_BENCH_CLUSTER_CONFIG"
DEFAULT_CONFIG = Path("configs/cluster.yaml")
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "QUEUED"}


@dataclass(frozen=True)
class ClusterOptions:
    """Resources and policy of submitted jobs. ``gpus_per_node`` = 0 runs on CPUs; ``time_min`` is the wall limit."""

    executor: str = "local"
    partition: str | None = None
    time_min: int = 60
    gpus_per_node: int = 0
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run before the job (e.g. "module load cuda/12.4")
    sbatch: dict[str, Any] = field(default_factory=dict)  # extra #SBATCH flags, e.g. {"exclude": "node7"}
    signal_delay_s: int = 120  # SLURM signals USR2 this long before the time limit (checkpoint and requeue)
    max_timeouts: int = 3  # requeues after preemption/time-out before the job counts as failed
    retries: int = 1  # sweep: resubmissions of a cell whose job ended without an ok record
    max_running: int = 0  # sweep: jobs in flight at once (0 = no limit; the local executor defaults to 2)
    poll_s: float = 10.0  # sweep: seconds between two looks at the jobs

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"--executor {self.executor!r}: expected one of {', '.join(EXECUTORS)}")
        if self.time_min <= 0 or self.gpus_per_node < 0 or self.retries < 0 or self.max_running < 0:
            raise ConfigError("cluster options: time_min must be > 0; gpus_per_node, retries, max_running >= 0")

    @property
    def in_flight_limit(self) -> int | None:
        """Jobs allowed in flight at once (None = unlimited)."""
        if self.max_running:
            return self.max_running
        return 2 if self.executor == "local" else None


def load_cluster_config(path: Path | None) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (or the default file, see the module docstring; ``{}`` when none)."""
    if path is None:
        env = os.environ.get(CONFIG_ENV)
        path = Path(env) if env else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
        if path is None:
            return {}
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the cluster config ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the cluster config must be a mapping of option: value")
    known = {f.name for f in fields(ClusterOptions)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
    return data


def cluster_options(config_file: Path | None = None, **cli: Any) -> ClusterOptions:
    """Defaults ← the cluster config file ← command-line values that are not None."""
    values = load_cluster_config(config_file)
    values.update({k: v for k, v in cli.items() if v is not None})
    if "setup" in values:
        values["setup"] = tuple(values["setup"] or ())
    try:
        return replace(ClusterOptions(), **values)
    except TypeError as exc:
        raise ConfigError(f"cluster options: {exc}") from exc


def make_executor(options: ClusterOptions, folder: Path, *, name: str, nodes: int = 1, tasks_per_node: int = 1):
    """A ``submitit.AutoExecutor`` writing its pickles and logs to ``folder/%j``, with ``options`` applied."""
    import submitit

    folder = Path(folder).resolve() / "%j"
    if options.executor == "local" and nodes > 1:
        raise ConfigError(f"--nodes {nodes}: the local executor runs on this machine only (use --executor slurm)")
    kwargs: dict[str, Any] = {"cluster": options.executor}
    kwargs[f"{options.executor}_max_num_timeout"] = options.max_timeouts
    executor = submitit.AutoExecutor(folder=folder, **kwargs)
    params: dict[str, Any] = {
        "name": name, "timeout_min": int(options.time_min), "nodes": int(nodes), "tasks_per_node": int(tasks_per_node),
        "gpus_per_node": int(options.gpus_per_node),
    }
    if options.cpus_per_task is not None:
        params["cpus_per_task"] = int(options.cpus_per_task)
    if options.mem_gb is not None:
        params["mem_gb"] = float(options.mem_gb)
    if options.executor == "slurm":
        slurm = {"partition": options.partition, "account": options.account, "qos": options.qos,
                 "constraint": options.constraint, "signal_delay_s": options.signal_delay_s}
        params.update({f"slurm_{k}": v for k, v in slurm.items() if v is not None})
        if options.setup:
            params["slurm_setup"] = list(options.setup)
        if options.sbatch:
            params["slurm_additional_parameters"] = dict(options.sbatch)
    elif options.setup:
        params["local_setup"] = list(options.setup)
    executor.update_parameters(**params)
    return executor


def _local_pid_state(pid: int) -> str | None:
    """``R``/``S``/``Z``... from ``/proc/<pid>/stat``; None when the process does not exist."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return None


def job_state(executor: str, folder: Path, job_id: str, host: str | None = None) -> str:
    """The scheduler state of a job submitted earlier: SLURM's (``PENDING``, ``RUNNING``, ``COMPLETED``,
    ``FAILED``, ``TIMEOUT``...) through ``sacct``, or for a local job ``RUNNING`` while its controller process
    lives, then ``COMPLETED``/``FAILED`` from its result file (``INTERRUPTED`` without one). ``UNKNOWN`` when a
    local job ran on another host.
    """
    import submitit

    folder = Path(folder)
    if executor == "slurm":
        return str(submitit.SlurmJob(folder=folder, job_id=job_id).state).split()[0].upper()
    if host is not None and host != socket.gethostname():
        return "UNKNOWN"
    state = _local_pid_state(int(job_id))
    if state is not None and state not in ("Z", "X"):
        return "RUNNING"
    result = submitit.core.utils.JobPaths(folder, job_id=job_id).result_pickle
    if not result.is_file():
        return "INTERRUPTED"
    try:
        with result.open("rb") as handle:
            outcome = pickle.load(handle)[0]
    except Exception:  # noqa: BLE001 (a result file being written or from another version)
        return "UNKNOWN"
    return "COMPLETED" if outcome == "success" else "FAILED"


def is_active(state: str) -> bool:
    """Whether a job in ``state`` may still run (queued, running, requeued)."""
    return state.upper() in ACTIVE_STATES
