"""Parity of classification fine-tuning: ECAMP's ``train.py`` (shared with MRM) versus our ``finetune`` protocol.

Usage (from the repository root)::

    python benchmarks/parity/finetune.py --authors-repo /tmp/ECAMP --seeds 0,1,2 [--task rsna-cls]

Identical inputs on both sides, for each seed: the synthetic task's split of that seed written as their list
files (``datasets/<TASK>/{train,val,test}_list.txt``: image path, then 0/1 labels), one encoder
initialisation (``--init-seed``) saved as ``{"model": state_dict}`` and loaded by both, and the same recipe:
SGD momentum 0.9, warmup + cosine, batch, lr, steps (a whole number of epochs, since their loop only stops at
an epoch's end), gradient clipping 1.0, drop-path 0.1, mean-pooled patch tokens + a fresh LayerNorm, head
std 2e-5, RandomResizedCrop + flip, evaluation once per epoch on val with patience 20, test images resized
on the short side and centre-cropped, their normalisation (0.4722 / 0.3028), fp32. Ours runs the
protocol's ``run`` with those values as ``--set`` overrides; theirs runs ``authors_shim.py finetune-ecamp``.
Prints one row per seed (test macro AUC of both) and whether the mean difference is within seed noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_python, identify_repos, markdown_table, run_authors, within_noise  # noqa: E402
from linear_probe import TINY_VIT  # noqa: E402

from ecamp_bench.data.images import load_image  # noqa: E402
from ecamp_bench.evaluation.context import attach_truth  # noqa: E402
from ecamp_bench.evaluation.metrics import MetricValue  # noqa: E402
from ecamp_bench.evaluation.runner import RunRequest, make_context, prepare_run  # noqa: E402
from ecamp_bench_plugins.protocols import finetune  # noqa: E402
from ecamp_bench.plugins import get_catalog  # noqa: E402

# Their --task name of each of our classification tasks (it selects their list folder and nothing else here).
AUTHORS_TASK = {"rsna-cls": "RSNA", "chexpert-cls": "CheXpert", "nih-cxr14-cls": "ChestX-ray14"}
AUTHORS_NORM = ["backbone.mean=[0.4722, 0.4722, 0.4722]", "backbone.std=[0.3028, 0.3028, 0.3028]"]


def readable_copy(path: Path, folder: Path) -> Path:
    """``path`` itself when Pillow opens it; else (DICOM) an 8-bit PNG in ``folder`` of the pixels our loader reads,
    which must be exact at 8 bits (an error names the file otherwise)."""
    try:
        with Image.open(path):
            return path
    except UnidentifiedImageError:
        pass
    pixels = load_image(path) * 255.0  # [H, W]
    if np.abs(pixels - np.round(pixels)).max() > 1e-3:
        raise ValueError(f"{path}: not 8-bit exact, an 8-bit copy would change the image")
    out = folder / f"{path.stem}.png"
    Image.fromarray(np.round(pixels).astype(np.uint8)).save(out)
    return out


def write_lists(folder: Path, task: str, tables: dict, targets: dict) -> None:
    """Their list files for ``tables`` (``train``/``val``/``test``): absolute image path, then 0/1 labels."""
    lists = folder / "datasets" / task
    images = folder / "images"
    lists.mkdir(parents=True, exist_ok=True)
    images.mkdir(exist_ok=True)
    names = {"train": "train_list.txt", "val": "val_list.txt", "test": "test_list.txt"}
    for split, table in tables.items():
        y = targets[split]
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{split}: labels other than 0/1 cannot be written in their list format")
        lines = [f"{readable_copy(Path(s.image_path).resolve(), images)} {' '.join(str(int(v)) for v in row)}"
                 for s, row in zip(table.samples, y)]
        (lists / names[split]).write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Classification fine-tuning: ECAMP's train.py versus ours")
    parser.add_argument("--authors-repo", type=Path, action="append", required=True, help="a checkout of ECAMP")
    parser.add_argument("--authors-python", default=default_python())
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--task", default="rsna-cls", choices=sorted(AUTHORS_TASK))
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--init-seed", type=int, default=1000, help="seed of the one encoder initialisation")
    parser.add_argument("--authors-resize-before-crop", action="store_true",
                        help="diagnostic: their RandomResizedCrop acts on the image already resized to the input "
                             "size, as ours does (default: on the stored image, as their code does)")
    parser.add_argument("--skip-ours", action="store_true", help="run the authors' side only (diagnostics)")
    args = parser.parse_args(argv)
    repos = identify_repos(args.authors_repo)
    if "ecamp" not in repos:
        raise SystemExit("finetune.py needs --authors-repo pointing at a checkout of ToniChopp/ECAMP")
    torch.set_num_threads(1)  # the authors' side runs with one thread too
    catalog = get_catalog()
    rows, ours_all, theirs_all = [], [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory(prefix="parity-finetune-") as tmp:
            tmp = Path(tmp)
            probe = prepare_run(RunRequest(task=args.task, fraction=args.fraction, seed=seed, protocol="finetune",
                                           backbone="random-init", overrides=TINY_VIT + AUTHORS_NORM),
                                catalog)
            steps_per_epoch = math.ceil(len(probe.split.train) / args.batch_size)
            steps = steps_per_epoch * args.epochs
            recipe = {
                "optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.0, "lr": args.lr, "batch_size": args.batch_size,
                "steps": steps, "warmup_steps": args.warmup_steps, "eval_every": steps_per_epoch,
                "crop_scale_min": 0.08, "hflip": True, "head_init_std": 2e-5, "head_norm": "none", "grad_clip": 1.0,
                "drop_path": 0.1, "pooling": "mean", "eval_resize": "shortside-centercrop", "patience": 20,
                "amp": "none", "eval_batch_size": 64, "layer_decay": 1.0,
            }
            overrides = TINY_VIT + AUTHORS_NORM + [f"protocol.{k}={json.dumps(v)}" for k, v in recipe.items()]
            plan = prepare_run(RunRequest(task=args.task, fraction=args.fraction, seed=seed, protocol="finetune",
                                          backbone="random-init", overrides=overrides), catalog)
            ctx = make_context(plan)
            torch.manual_seed(args.init_seed)
            encoder = ctx.build_backbone().encoder
            checkpoint = tmp / "init.pth"
            torch.save({"model": encoder.state_dict()}, checkpoint)
            ctx = dataclasses.replace(ctx, weights_path=checkpoint)
            t0 = time.process_time()
            if args.skip_ours:
                metric = MetricValue("auc", float("nan"), True, None, len(ctx.test))
            else:
                predictions = attach_truth(plan.impl, plan.task, ctx.test, finetune.run(ctx))
                metric = plan.impl.score(plan.task, predictions, n_bootstrap=0, seed=seed)[0]
            ours_cpu = time.process_time() - t0
            tables = {"train": ctx.train, "val": ctx.val, "test": ctx.test}
            write_lists(tmp, AUTHORS_TASK[args.task], tables, {k: ctx.targets(t) for k, t in tables.items()})
            options = {
                "task": AUTHORS_TASK[args.task], "num_classes": len(plan.task.labels), "lists": str(tmp),
                "checkpoint": str(checkpoint), "img_size": encoder.patch_embed.img_size[0],
                "embed_dim": encoder.embed_dim, "depth": len(encoder.blocks),
                "num_heads": encoder.blocks[0].attn.num_heads, "steps": steps, "warmup_steps": args.warmup_steps,
                "lr": args.lr, "weight_decay": 0.0, "eval_batch_size": 64, "seed": seed,
                "resize_before_crop": args.authors_resize_before_crop,
            }
            t0 = time.perf_counter()
            theirs = run_authors("finetune-ecamp", repos["ecamp"], {"unused": np.zeros(1)}, python=args.authors_python,
                                 batch_size=args.batch_size, options=json.dumps(options))
            ours_all.append(metric.value)
            theirs_all.append(theirs["value"])
            rows.append([seed, len(ctx.train), len(ctx.val), len(ctx.test), steps, metric.value, theirs["value"],
                         metric.value - theirs["value"], theirs["optimizer_steps"], theirs["evaluations"]])
            print(f"seed {seed}: ours {metric.value:.4f} ({ours_cpu:.0f} s CPU), ECAMP {theirs['value']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s wall)", file=sys.stderr)
    print(f"task {args.task}, fraction {args.fraction}: {json.dumps(recipe)}")
    print(markdown_table(["seed", "train", "val", "test", "steps", "ours AUC", "ECAMP AUC", "ours - ECAMP",
                          "ECAMP optimiser steps", "ECAMP evaluations"], rows))
    diff, noise, ok = within_noise(ours_all, theirs_all)
    print(f"\nmean ours {np.mean(ours_all):.4f}, ECAMP {np.mean(theirs_all):.4f}; mean difference {diff:+.4f}, "
          f"seed sd {noise:.4f}: {'within' if ok else 'OUTSIDE'} seed noise")


if __name__ == "__main__":
    main()
