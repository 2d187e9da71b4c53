"""``ecamp-bench eval``: evaluate one backbone on one task at one label fraction, for one or more seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecamp_bench.cli._options import (
    AllowOverlapOpt, DataRootOpt, DeviceOpt, NumWorkersOpt, OverridesOpt, PresetOpt, ProtocolOpt, SplitOpt,
    SplitsRootOpt, RecipeOpt, catalog, console, err_console,
)

app = typer.Typer()


def summary_line(outcome) -> str:
    """``rsna-cls 1% linear file:x seed 0: auc 0.871 [0.80, 0.93] (n=300) in 12.3 s → path``."""
    from ecamp_bench.leaderboard.aggregate import format_fraction

    rec = outcome.record
    primary = rec.primary
    if primary is None or primary.value is None:
        score = f"{rec.primary_metric} undefined"
    else:
        ci_text = f" [{primary.ci95[0]:.3f}, {primary.ci95[1]:.3f}]" if primary.ci95 else ""
        score = f"{primary.name} {primary.value:.3f}{ci_text} (n={primary.n})"
    head = f"{rec.task.name} {format_fraction(rec.fraction)} {rec.protocol.name} {rec.backbone.name} seed {rec.seed}"
    if outcome.skipped:
        if outcome.note:
            return f"{head}: {outcome.note} ({score}) → {outcome.path}"
        return f"{head}: skipped, already done ({score}) → {outcome.path} (use --force to rerun)"
    return f"{head}: {score} in {rec.timing.wall_time_s or 0.0:.1f} s → {outcome.path}"


def record_notes(record) -> list[tuple[str, str]]:
    """``(level, text)`` lines a reader of a result must see: a test set too small to mean anything (warning),
    a published split's lists with their sha256, overlaps (warning) and label sources (note)."""
    lines = []
    small = record.dataset.get("small_test_set") or []
    if small:
        lines.append(("warning", "the test set is too small for a meaningful metric (" + "; ".join(small)
                      + "); the record flags it (dataset.small_test_set)"))
    few = record.dataset.get("small_train_set") or []
    if few:
        lines.append(("warning", "the training subset is too small for the fit to mean much (" + "; ".join(few)
                      + "); expect a metric near chance (dataset.small_train_set)"))
    published = record.split.published
    if published:
        files = ", ".join(f"{f['role']} {Path(f['path']).name} (sha256 {f['sha256'][:12]})" for f in published["files"])
        lines.append(("note", f"published split {published['name']}: {files}"))
        shared = {k: v for k, v in published.get("overlaps", {}).items() if v}
        if shared or published.get("val_is_test"):
            text = ", ".join(f"{k.replace('&', '∩')} {v}" for k, v in shared.items())
            lines.append(("warning", "the published lists overlap: " + text
                          + ("; the val list is the test list" if published.get("val_is_test") else "")))
        for part, source in (published.get("label_source") or {}).items():
            if source.get("images_only_in_list") or source.get("disagree_with_csv"):
                lines.append(("note", f"{part} labels from the list lines: {source['images_only_in_list']} images only "
                              f"in the list, {source['disagree_with_csv']} disagree with the CSV (the list wins)"))
        lines.extend(("note", n) for n in published.get("notes") or [])
    return lines


def interrupt_message(finished: list[str], running: int) -> str:
    """What an interrupted ``eval`` kept and how to resume."""
    kept = "; ".join(finished) if finished else "no record (no seed had finished)"
    return (f"interrupted during seed {running}: kept {kept}; seed {running} wrote nothing (its scratch folder "
            "was removed). Run the same command again to resume: finished seeds are skipped.")


@app.command("eval")
def eval_command(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name (see `ecamp-bench list tasks`).")],
    fraction: Annotated[str, typer.Option("--fraction", "-f", help="Label fraction: 0.01, 1% or 1 (=100%).")] = "1",
    protocol: ProtocolOpt = None,
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", "-b", help="random-init, file:PATH, timm:ARCH or a registered name "
                     "(default: newest in pretrained/)."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Local weight file (timm:ARCH, or to replace a backbone's).")
    ] = None,
    seed: Annotated[list[int], typer.Option("--seed", "-s", help="Seed; repeat for several runs.")] = [0],  # noqa: B006
    data_root: DataRootOpt = None,
    preset: PresetOpt = "default",
    overrides: OverridesOpt = [],  # noqa: B006
    force: Annotated[bool, typer.Option("--force", help="Rerun even if an ok record exists.")] = False,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = 0,
    split: SplitOpt = None,
    recipe: RecipeOpt = None,
    splits_root: SplitsRootOpt = None,
    allow_split_overlap: AllowOverlapOpt = False,
) -> None:
    """Evaluate a backbone on a task at one label fraction; write one result record per seed.

    Under `torchrun --nproc_per_node N -m ecamp_bench.cli eval ...` the N processes run each seed together
    (DDP: NCCL on GPU, gloo on CPU; `--device cuda` means each process's `cuda:LOCAL_RANK`) and rank 0
    writes the record.
    """
    from ecamp_bench.data.splits import parse_fraction
    from ecamp_bench.distributed import (barrier, current, device_name, init_distributed, launched_by_torchrun,
                                         shutdown_distributed)
    from ecamp_bench.evaluation.context import NullProgress
    from ecamp_bench.evaluation.runner import RunRequest, run_evaluation
    from ecamp_bench.progress import Progress

    from ecamp_bench.seeds import check_seed

    value = parse_fraction(fraction)
    device_name(device)  # a device that is not here fails now, before any record is read or written
    seed = [check_seed(s) for s in seed]
    cat = catalog()
    main_process = True
    if launched_by_torchrun():
        info, resolved = init_distributed("cuda" if device_name(device).startswith("cuda") else "cpu")
        device, main_process = str(resolved), info.is_main
    device = device_name(device)
    progress = Progress() if main_process else NullProgress()
    finished: list[str] = []
    try:
        for s in seed:
            request = RunRequest(
                task=task, fraction=value, seed=s, protocol=protocol, backbone=backbone, weights=weights,
                data_root=data_root, preset=preset, overrides=list(overrides), force=force, device=device,
                num_workers=num_workers, split=split, splits_root=splits_root, allow_split_overlap=allow_split_overlap,
                recipe=recipe,
            )
            try:
                outcome = run_evaluation(request, cat, progress)
            except KeyboardInterrupt:
                if main_process:
                    err_console().print(interrupt_message(finished, s), soft_wrap=True)
                raise typer.Exit(130) from None
            finished.append(f"seed {s}: {outcome.path}")
            if main_process:
                console().print(summary_line(outcome), soft_wrap=True)
                for level, line in record_notes(outcome.record):
                    err_console().print(f"[yellow]{level}:[/] {line}", soft_wrap=True)
        if launched_by_torchrun():
            barrier(current())  # leave the group together (the teardown abort itself: exit_torchrun_worker in cli.run)
    finally:
        shutdown_distributed()
