"""``make demo`` on the hardware it finds: the CPU demo, or the GPU demo where CUDA is available.

Both run the same pipeline (synthetic data → ECAMP pre-training and its ablations → the sweep over every task →
the HTML report) with one :class:`DemoPlan` each:

- ``cpu``: synthetic size ``demo`` (128-px images), pre-training config ``cpu-demo`` (a 64-px, 4-block ViT,
  300 steps) and the ``mae-only`` ablation; linear probes with 3 seeds, dense tasks and fine-tuning with seed 0.
  Under 30 minutes on 2 CPU cores.
- ``gpu``: synthetic size ``gpu-demo`` (more studies, 448-px images for the SR target), pre-training config
  ``gpu-demo`` (ViT-S/16 at 224 px, long enough for the probe curve to flatten) and the ``mae-only``, ``no-sr`` and
  ``no-mlm`` ablations, then the same sweep.

Before the first step the plan is written to ``<results>/DEMO.json`` (hardware, device name, synthetic size,
pre-training config, commands); the leaderboard's HTML header names them from it. The sweeps' ``--preset`` is the
protocol preset (``tiny``, ``cpu-demo`` for fine-tuning).

    python -m ecamp_bench.demo [--hardware auto|cpu|gpu] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

DEMO_FILE = "DEMO.json"
FRACTIONS = "0.05,0.2,1"
# The in-domain tasks, listed so the demo keeps its time when more tasks join the catalog (the external-validation
# tasks, e.g. ``mimic-to-chexpert-cls``, are left out: they re-read the larger layouts).
CLS_TASKS = "chexpert-cls,covidx-cls,nih-cxr14-cls,rsna-cls"
TASKS = f"{CLS_TASKS},rsna-det,rsna-seg,siim-seg"


@dataclass(frozen=True)
class DemoPlan:
    """What ``make demo`` runs: ``commands`` are ``ecamp-bench`` argument lists, run with
    ``ECAMP_BENCH_SYNTHETIC=<synthetic>`` in the environment."""

    hardware: str  # "cpu" or "gpu"
    device_name: str  # e.g. "NVIDIA H100 80GB HBM3" or the CPU model and core count
    synthetic: str  # synthetic size (ecamp_bench.data.synth.SIZES)
    pretrain: str  # pre-training config (configs/pretrain/<name>.yaml)
    variants: tuple[str, ...]  # ablations pre-trained besides ECAMP itself
    commands: tuple[tuple[str, ...], ...]

    def to_json(self) -> dict:
        """A JSON-ready dict (what ``DEMO.json`` holds)."""
        return asdict(self)


def detect_hardware(cuda_available: Callable[[], bool] | None = None,
                    gpu_name: Callable[[], str] | None = None) -> tuple[str, str]:
    """``("gpu", gpu_name())`` when ``cuda_available()`` (defaults: ``torch.cuda.is_available`` and the name of
    CUDA device 0), else ``("cpu", "<processor> (<n> cores)")``."""
    import torch

    if (cuda_available or torch.cuda.is_available)():
        return "gpu", (gpu_name or (lambda: torch.cuda.get_device_name(0)))()
    return "cpu", f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def make_plan(hardware: str, device_name: str = "") -> DemoPlan:
    """The demo's steps for ``hardware`` (``cpu`` or ``gpu``)."""
    if hardware not in ("cpu", "gpu"):
        raise ValueError(f"hardware must be 'cpu' or 'gpu', not {hardware!r}")
    pretrain = "cpu-demo" if hardware == "cpu" else "gpu-demo"
    variants = ("mae-only",) if hardware == "cpu" else ("mae-only", "no-sr", "no-mlm")
    backbones = f"random-init,file:pretrained/ecamp-{pretrain}-*.safetensors"
    commands: list[tuple[str, ...]] = [("pretrain", "--config", pretrain, "--resume")]
    commands += [("pretrain", "--config", pretrain, "--variant", v, "--resume") for v in variants]
    sweep = ("sweep", "--fractions", FRACTIONS, "--backbones", backbones)
    commands += [
        (*sweep, "--tasks", CLS_TASKS, "--protocol", "linear", "--seeds", "0,1,2", "--preset", "tiny"),
        (*sweep, "--tasks", TASKS, "--seeds", "0", "--preset", "tiny"),
        (*sweep, "--tasks", CLS_TASKS, "--protocol", "finetune", "--seeds", "0", "--preset", "cpu-demo"),
        ("leaderboard", "--format", "html"),
    ]
    return DemoPlan(hardware, device_name, "demo" if hardware == "cpu" else "gpu-demo", pretrain, variants,
                    tuple(commands))


def header_text(folder: Path) -> str:
    """One sentence naming the demo's hardware, synthetic size and pre-training config from ``folder/DEMO.json``;
    "" when there is none."""
    try:
        plan = json.loads((Path(folder) / DEMO_FILE).read_text(encoding="utf-8"))
        return (f"Demo run on {plan['hardware'].upper()} ({plan['device_name']}): synthetic size "
                f"{plan['synthetic']}, pre-training config {plan['pretrain']}, ablations "
                f"{', '.join(plan['variants']) or 'none'}.")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def main(argv: list[str] | None = None, cuda_available: Callable[[], bool] | None = None,
         gpu_name: Callable[[], str] | None = None) -> int:
    """Pick the plan for the hardware found (or ``--hardware``), write ``DEMO.json`` and run every step."""
    parser = argparse.ArgumentParser(prog="python -m ecamp_bench.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hardware", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands, run nothing")
    args = parser.parse_args(argv)
    from ecamp_bench.paths import results_dir

    hardware, name = detect_hardware(cuda_available, gpu_name)
    if args.hardware != "auto" and args.hardware != hardware:
        if args.hardware == "gpu" and not args.dry_run:
            print("make demo: --hardware gpu, but torch.cuda.is_available() is False here "
                  "(--dry-run prints the GPU plan anyway)", file=sys.stderr)
            return 2
        hardware, name = args.hardware, (detect_hardware(lambda: False)[1] if args.hardware == "cpu" else "no GPU here")
    plan = make_plan(hardware, name)
    exe = str(Path(sys.executable).with_name("ecamp-bench"))
    print(f"demo on {plan.hardware} ({plan.device_name}): synthetic {plan.synthetic}, pre-training {plan.pretrain}, "
          f"ablations {', '.join(plan.variants)}", flush=True)
    if args.dry_run:
        for command in plan.commands:
            print(f"ECAMP_BENCH_SYNTHETIC={plan.synthetic} {shlex.join((exe, *command))}")
        return 0
    results_dir().mkdir(parents=True, exist_ok=True)
    (results_dir() / DEMO_FILE).write_text(json.dumps(plan.to_json(), indent=2) + "\n", encoding="utf-8")
    env = {**os.environ, "ECAMP_BENCH_SYNTHETIC": plan.synthetic}
    for command in plan.commands:
        print(f"$ ECAMP_BENCH_SYNTHETIC={plan.synthetic} {shlex.join((exe, *command))}", flush=True)
        done = subprocess.run([exe, *command], env=env, check=False)
        if done.returncode != 0:
            print(f"make demo: step failed (exit {done.returncode}): {shlex.join(command)}", file=sys.stderr)
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
