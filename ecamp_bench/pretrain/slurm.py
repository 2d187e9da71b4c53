"""``pretrain --executor slurm|local``: pre-training as a submitit job, multi-node DDP, requeued on preemption.

Inside the job every task (one per GPU; ``tasks_per_node`` on CPUs) reads its place from submitit's
``JobEnvironment`` (``SLURM_PROCID``, ``SLURM_LOCALID``, the node list) through
``submitit.helpers.TorchDistributedEnvironment``, which exports ``MASTER_ADDR`` (the first node), ``MASTER_PORT``
(drawn from the job id), ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the trainer then joins the process group
exactly as under ``torchrun`` (NCCL on GPUs, gloo on CPUs).

Preemption and time-out: SLURM (``--signal=USR2@signal_delay_s``, set by submitit) or the local executor sends
USR2. :class:`PretrainJob` turns it into a flag that every rank checks after each optimizer step (agreed through
the process group); at that step boundary the trainer writes a checkpoint and stops, and rank 0 hands over to
submitit's handler, which calls :meth:`PretrainJob.checkpoint` (the ``Checkpointable`` protocol: the same job
with ``resume=True``) and requeues it. The requeued job resumes from that checkpoint through the ordinary
``--resume`` path, which repeats an uninterrupted run bit for bit. A USR2 that arrives before training started
goes straight to submitit's handler (requeue, resume from whatever checkpoint exists).

A job that dies without a signal (SIGKILL, node failure) is resubmitted with ``resume=True`` by the waiting driver
(:func:`submit_pretraining`, up to ``retries`` times).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import submitit

from ecamp_bench.cluster import ClusterOptions, make_executor
from ecamp_bench.distributed import DistInfo, all_gather_objects
from ecamp_bench.pretrain.config import PretrainConfig


class PreemptionFlag:
    """Set by the preemption signal; :meth:`agreed` tells every rank whether any rank received it."""

    def __init__(self) -> None:
        self.signalled = False

    def set(self, signum, frame) -> None:  # noqa: ARG002 (signal handler signature)
        """The signal handler: remember, act at the next step boundary."""
        self.signalled = True

    def agreed(self, info: DistInfo) -> bool:
        """True on every rank when any rank was signalled (a collective: called by all ranks at the same step)."""
        return any(all_gather_objects(self.signalled, info))


@dataclass
class PretrainJob(submitit.helpers.Checkpointable):
    """One pre-training run as a submitit job: ``cfg`` trained in ``run_dir`` (``resume`` continues it)."""

    cfg: PretrainConfig
    run_dir: Path
    resume: bool
    env: dict

    def __call__(self):
        from ecamp_bench.distributed import shutdown_distributed
        from ecamp_bench.pretrain.loop import TrainingStopped, run_pretraining

        os.environ.update(self.env)
        job_env = submitit.JobEnvironment()
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        usr = job_env._usr_sig()
        submitit_handler: Callable = signal.getsignal(usr)
        flag = PreemptionFlag()
        signal.signal(usr, flag.set)
        log = (lambda message: print(message, flush=True)) if job_env.global_rank == 0 else None
        if log:
            log(f"{job_env}: {'resuming' if self.resume else 'starting'} {self.run_dir}")
        try:
            result, _ = run_pretraining(self.cfg, self.run_dir, resume=self.resume, on_event=log, stop=flag.agreed,
                                        on_step=_step_printer(log, self.cfg.model.loss_weights))
        except TrainingStopped as stopped:
            shutdown_distributed()
            if job_env.global_rank == 0:
                print(f"preempted: checkpoint at step {stopped.step}, requeueing", flush=True)
                signal.signal(usr, submitit_handler)
                submitit_handler(usr, None)  # calls self.checkpoint(), requeues, exits
            sys.exit(0)
        shutdown_distributed()
        return result if job_env.global_rank == 0 else None

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """The requeued job: the same run, resumed from its latest checkpoint."""
        return submitit.helpers.DelayedSubmission(PretrainJob(self.cfg, self.run_dir, True, self.env))


def _step_printer(log: Callable[[str], None] | None, loss_weights: dict[str, float], every_s: float = 30.0):
    """A throttled ``on_step`` that prints one progress line to the job log every ``every_s`` seconds."""
    if log is None:
        return None
    last = [0.0]

    from ecamp_bench.pretrain.loop import format_losses

    def on_step(info) -> None:
        if time.monotonic() - last[0] >= every_s or info.step == info.total_steps:
            last[0] = time.monotonic()
            losses = format_losses(info.losses, loss_weights)
            log(f"step {info.step}/{info.total_steps} {losses} lr {info.lr:.2e} {info.samples_per_s:.1f} samples/s")

    return on_step


def submit_pretraining(cfg: PretrainConfig, run_dir: Path, options: ClusterOptions, *, nodes: int = 1,
                       tasks_per_node: int | None = None, resume: bool = False):
    """Submit the run; returns ``(submit, job)`` where ``submit(resume)`` submits it again (for :func:`wait_for`)."""
    from ecamp_bench.sweep.cell_job import session_env

    from ecamp_bench.errors import ConfigError
    from ecamp_bench.pretrain.checkpointing import latest_checkpoint

    tasks = tasks_per_node or max(1, options.gpus_per_node)
    run_dir = Path(run_dir).resolve()
    if not resume and latest_checkpoint(run_dir) is not None:
        raise ConfigError(f"{run_dir} already holds checkpoints of a run: pass --resume to continue it, "
                          "or choose another --out folder")
    executor = make_executor(options, run_dir / "submitit", name=f"ecamp-pretrain-{cfg.name}", nodes=nodes,
                             tasks_per_node=tasks)
    env = session_env()

    def submit(again: bool):
        return executor.submit(PretrainJob(cfg, run_dir, again, env))

    return submit, submit(resume)


def wait_for(job, submit, retries: int, on_event: Callable[[str], None] = print):
    """Wait for ``job``; resubmit with ``resume=True`` when it died without a result (up to ``retries`` times)."""
    for attempt in range(retries + 1):
        try:
            return job.results()[0]  # rank 0's result
        except submitit.core.utils.FailedJobError:
            raise
        except submitit.core.utils.UncompletedJobError as exc:
            if attempt == retries:
                raise
            on_event(f"job {job.job_id} ended without a result ({str(exc).splitlines()[0]}); resubmitting with resume")
            job = submit(True)
            on_event(f"resubmitted as job {job.job_id}")
    raise AssertionError("unreachable")
