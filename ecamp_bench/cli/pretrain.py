"""``ecamp-bench pretrain``: ECAMP pre-training from image-report pairs to an exported backbone file."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.table import Table

from ecamp_bench.cli._cluster import (
    ClusterConfigOpt, CpusOpt, ExecutorOpt, GpusOpt, MemOpt, PartitionOpt, RetriesOpt, TimeOpt, cluster_from_cli,
)
from ecamp_bench.cli._options import SeedOpt, console, err_console, renamed_option

app = typer.Typer()


def _configure_logging() -> None:
    root = logging.getLogger("ecamp_bench")
    if not root.handlers:
        root.addHandler(RichHandler(console=err_console(), show_path=False))
        root.setLevel(logging.INFO)


def _print_dry_run(report: dict) -> None:
    table = Table(title="parameters", title_justify="left")
    table.add_column("part")
    table.add_column("count", justify="right")
    for part, count in report["parameters"].items():
        table.add_row(part, f"{count:,} ({count / 1e6:.1f}M)")
    console().print(table)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in report["losses"].items())
    console().print(f"one step on 2 images: loss {report['loss']:.4f} ({losses}) in {report['seconds']:.1f} s")


@app.command("pretrain")
def pretrain(
    config: Annotated[str | None, typer.Option(
        "--config", help="Pre-training config: cpu-small (default), cpu-demo, gpu-demo, paper "
                         "(configs/pretrain/<name>.yaml) or a YAML path.")] = None,
    preset: Annotated[str | None, typer.Option("--preset", hidden=True, help="Former name of --config.")] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Data root (default: the synthetic default).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run folder (default: results/pretrain/<config name>-<hash>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run folder's latest checkpoint.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build the model, count parameters, run one step.")
    ] = False,
    variant: Annotated[str | None, typer.Option(
        "--variant", help="A named ablation (configs/pretrain-variants/): mae-only, no-sr, no-mlm, no-context, "
                          "random-sr-window, uniform-masking; the backbone is named <config name>-<variant>.")] = None,
    overrides: Annotated[
        list[str], typer.Option("--set", help="Override a config key: a.b=value (repeatable).")
    ] = [],  # noqa: B006
    device: Annotated[str | None, typer.Option("--device", help="cpu | cuda | auto (default: the config's).")] = None,
    seed: SeedOpt | None = None,
    executor: ExecutorOpt = None,
    cluster_config: ClusterConfigOpt = None,
    nodes: Annotated[int, typer.Option("--nodes", help="Nodes of the job (--executor slurm).")] = 1,
    gpus_per_node: GpusOpt = None,
    tasks_per_node: Annotated[
        int | None, typer.Option("--tasks-per-node", help="DDP processes per node (default: one per GPU, else 1).")
    ] = None,
    partition: PartitionOpt = None,
    time_min: TimeOpt = None,
    cpus_per_task: CpusOpt = None,
    mem_gb: MemOpt = None,
    retries: RetriesOpt = None,
    wait: Annotated[
        bool | None, typer.Option("--wait/--no-wait", help="Wait for the job (default: wait for local, not for slurm).")
    ] = None,
) -> None:
    """Pre-train ECAMP (MIM + context-guided SR + entity-aware MLM) and export the image encoder."""
    from ecamp_bench.config import config_sha256, to_dict
    from ecamp_bench.paths import results_dir
    from ecamp_bench.pretrain.config import load_pretrain_config
    from ecamp_bench.distributed import check_device, resolve_device, shutdown_distributed

    config = renamed_option(config, preset, "cpu-small", option="--config", old="--preset", command="pretrain")
    if device and executor is None:  # a device that is not here fails now (a cluster's nodes check their own)
        check_device(device)

    extra = [*overrides, *([f"run.device={device}"] if device else []),
             *([f"run.seed={seed}"] if seed is not None else [])]
    if variant is not None:
        from ecamp_bench.pretrain.variants import variant_overrides

        extra = [*variant_overrides(load_pretrain_config(config).name, variant), *extra]
    cfg = load_pretrain_config(config, extra)
    from ecamp_bench.seeds import check_seed

    check_seed(cfg.run.seed, "--seed" if seed is not None else "run.seed")
    if data_root is not None:
        cfg.data.root = data_root
    _configure_logging()
    if dry_run:
        from ecamp_bench.pretrain.dry_run import dry_run as run_dry

        _print_dry_run(run_dry(cfg, resolve_device("cpu" if device is None else cfg.run.device)))
        return
    from ecamp_bench.pretrain.loop import format_losses, run_pretraining

    main_process = int(os.environ.get("RANK", "0")) == 0
    run_dir = out or results_dir() / "pretrain" / f"{cfg.name}-{config_sha256(to_dict(cfg))[:8]}"
    if executor is not None:
        options = cluster_from_cli(executor, cluster_config, partition=partition, time_min=time_min,
                                   gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task, mem_gb=mem_gb,
                                   retries=retries)
        _submit(cfg, run_dir, options, nodes, tasks_per_node, resume, executor == "local" if wait is None else wait)
        return
    from ecamp_bench.progress import Progress, phase_progress

    display = Progress()
    with phase_progress(f"pretrain {cfg.name} (steps)", None, display, enabled=main_process) as phase:

        def on_step(info) -> None:
            losses = format_losses(info.losses, cfg.model.loss_weights)
            phase.update(done=info.step, total=info.total_steps,
                         status=f"{losses} | lr {info.lr:.2e} | {info.samples_per_s:.1f} samples/s")

        existed = run_dir.exists()
        try:
            result, _ = run_pretraining(cfg, run_dir, resume=resume, on_step=on_step, on_event=display.log)
        except KeyboardInterrupt:
            if main_process:
                err_console().print(leftover_message(run_dir, existed, config, variant, interrupted=True),
                                    soft_wrap=True)
            raise typer.Exit(130) from None
        except BaseException:
            if main_process:
                err_console().print(leftover_message(run_dir, existed, config, variant, interrupted=False),
                                    soft_wrap=True)
            raise
        finally:
            shutdown_distributed()
    if main_process:
        _print_result(result)


def leftover_message(run_dir: Path, existed: bool, config: str, variant: str | None, *, interrupted: bool) -> str:
    """Tidy up after a pre-training that did not finish and say what was kept: a run folder this invocation created
    and that holds no checkpoint is removed (nothing in it can be resumed); one with a checkpoint is kept."""
    import shutil

    from ecamp_bench.pretrain.checkpointing import latest_checkpoint

    what = "interrupted" if interrupted else "failed"
    latest = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    if latest is not None:
        command = f"ecamp-bench pretrain --config {config}" + (f" --variant {variant}" if variant else "")
        return (f"{what}: kept {run_dir} with its latest checkpoint {latest.name}; continue with "
                f"`{command} --resume` (the same options)")
    if not existed and run_dir.is_dir():
        shutil.rmtree(run_dir, ignore_errors=True)
        return f"{what} before the first checkpoint: nothing to resume, the run folder {run_dir} was removed"
    return f"{what} before the first checkpoint: nothing was kept"


def _submit(cfg, run_dir: Path, options, nodes: int, tasks_per_node: int | None, resume: bool, wait: bool) -> None:
    from ecamp_bench.pretrain.slurm import submit_pretraining, wait_for

    submit, job = submit_pretraining(cfg, run_dir, options, nodes=nodes, tasks_per_node=tasks_per_node, resume=resume)
    out = console()
    out.print(f"submitted job {job.job_id} ({options.executor}, {nodes} node(s)); log: {job.paths.stdout}",
              soft_wrap=True)
    if not wait:
        out.print(f"follow: tail -f {job.paths.stdout}; run folder: {run_dir}", soft_wrap=True)
        return
    _print_result(wait_for(job, submit, options.retries, on_event=out.print))


def _print_result(result) -> None:
    if not result.loss_start:  # --resume of a run that had already reached its last step
        out = console()
        out.print(f"nothing to train: the run in {result.run_dir} had already finished ({result.steps} steps); "
                  f"its losses are in {result.run_dir / 'metrics.jsonl'}", soft_wrap=True)
        if result.backbone is not None:
            out.print(f"backbone: {result.backbone}")
        return
    table = Table(title=f"losses ({result.steps} steps, {result.wall_s:.0f} s)", title_justify="left")
    for column in ("loss", "first 10%", "last 10%"):
        table.add_column(column, justify="right" if column != "loss" else "left")
    for name in result.loss_start:
        table.add_row(name, f"{result.loss_start[name]:.4f}", f"{result.loss_end[name]:.4f}")
    console().print(table)
    console().print(f"run folder: {result.run_dir}")
    if result.backbone is not None:
        console().print(f"backbone: {result.backbone}")
