"""How hard is the synthetic world? Three reference classifiers on a synthetic size's CheXpert and RSNA test sets.

Prints, per task, the macro ROC AUC on the test images of:

1. ``pixels``: logistic regression on the image average-pooled to 16×16 (the "is it linear in the pixels?" floor);
2. ``resnet18``: a torchvision ResNet-18 trained from scratch on 100 % of the training labels (the "is it
   learnable?" ceiling);
3. ``vit-random``: logistic regression on a randomly initialised ViT's average-pooled feature (the demo's 64-px
   ``cpu-demo`` encoder by default, ``--vit vit_small_patch16_224`` for the GPU demo's ViT-S/16).

Tasks and labels (as the benchmark's tasks define them): ``chexpert-cls`` = the 5 CheXpert competition labels
(Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion), frontal images, train = ``train.csv`` with
the published uncertainty policy (report-derived labels, so they carry the reports' uncertainty), test = the
official ``valid`` split (labels = what was drawn); ``rsna-cls`` = pneumonia yes/no, a stratified 80/20 split of
the patients (seed 0). Generator targets (docs/synthetic.md): pixels <= 0.70, resnet18 >= 0.85 on chexpert-cls.

    nice -n 10 python benchmarks/synthetic_world.py --synthetic-size demo --size 64 --epochs 30

The synthetic size's two layouts are written (deterministically, seed 0) under ``--out`` unless a generated tree of the
current generator version is there already. Figures are AUCs; the CPU seconds (``time.process_time``) of each
step are printed too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _write_layouts(out: Path, size_name: str, workers: int) -> None:
    from ecamp_bench.data.synth.generate import (
        GENERATOR_VERSION, marker_size, read_marker, synthetic_layouts, synthetic_size,
    )

    params = synthetic_size(size_name)
    marker = read_marker(out)
    if marker is not None and marker.get("generator_version") == GENERATOR_VERSION and marker_size(marker) == size_name:
        return
    layouts = synthetic_layouts()
    for name in ("chexpert", "rsna-pneumonia"):
        spec = layouts[name]
        subdir = spec.subdir
        done = out / subdir / ".benchmark-complete"
        if done.is_file() and done.read_text() == f"{GENERATOR_VERSION} {size_name}":
            continue
        print(f"writing {name} ({params[name]} cases, {params['size']} px) under {out / subdir}", flush=True)
        spec.write_synthetic(out / subdir, params[name], 0, size=params["size"], workers=workers,
                             **spec.synthetic_options.get(size_name, {}))
        done.write_text(f"{GENERATOR_VERSION} {size_name}")


def _images(samples, size: int) -> np.ndarray:
    from ecamp_bench.data.images import load_image
    from ecamp_bench.data.synth.difficulty import resize

    return np.concatenate([resize(load_image(s.image_path)[None], size) for s in samples])


def chexpert_arrays(root: Path, size: int):
    """``(train, test)`` :class:`Arrays` of chexpert-cls (5 competition labels, frontal, published policy)."""
    from ecamp_bench_plugins.layouts import chexpert
    from ecamp_bench.data.synth import LAYOUTS
    from ecamp_bench.data.synth.difficulty import Arrays

    table = chexpert.apply_uncertainty_policy(chexpert.frontal_only(chexpert.read(root / LAYOUTS["chexpert"][0])))
    labels = chexpert.COMPETITION_LABELS
    out = []
    for split in ("train", "valid"):
        samples = [s for s in table if s.split == split]
        targets = np.array([[s.labels[name] for name in labels] for s in samples], dtype=np.float32)
        out.append(Arrays(_images(samples, size), targets, labels))
    return tuple(out)


def rsna_arrays(root: Path, size: int):
    """``(train, test)`` :class:`Arrays` of rsna-cls: a stratified 80/20 patient split (seed 0)."""
    from sklearn.model_selection import train_test_split

    from ecamp_bench_plugins.layouts import rsna
    from ecamp_bench.data.synth import LAYOUTS
    from ecamp_bench.data.synth.difficulty import Arrays

    samples = list(rsna.read(root / LAYOUTS["rsna-pneumonia"][0]))
    y = np.array([[s.labels[rsna.LABEL]] for s in samples], dtype=np.float32)
    train, test = train_test_split(np.arange(len(samples)), test_size=0.2, random_state=0, stratify=y[:, 0])
    return tuple(Arrays(_images([samples[i] for i in idx], size), y[idx], (rsna.LABEL,)) for idx in (train, test))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic-size", default="demo", help="synthetic size (demo, gpu-demo, small, ...); "
                        "default demo (`ecamp-bench data synth --size`; --size here is the classifiers' pixels)")
    parser.add_argument("--preset", dest="synthetic_size", help=argparse.SUPPRESS)  # former name of --synthetic-size
    parser.add_argument("--out", type=Path, default=None, help="where the size's layouts are (or get written)")
    parser.add_argument("--size", type=int, default=64, help="pixels the classifiers read (the demo reads 64)")
    parser.add_argument("--epochs", type=int, default=16,
                        help="ResNet-18 epochs (default 16, as the test; ~35 CPU-s per epoch on the demo size's "
                             "3,352 CheXpert images, ~22 on its 2,080 RSNA images, at one thread)")
    parser.add_argument("--vit", default="cpu-demo", help="random-init ViT: cpu-demo or a timm name")
    parser.add_argument("--tasks", default="chexpert-cls,rsna-cls", help="comma list of chexpert-cls, rsna-cls")
    parser.add_argument("--classifiers", default="pixels,vit-random,resnet18",
                        help="comma list of pixels, vit-random, resnet18 (the first two take about a CPU-minute)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=1, help="processes writing the layouts")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: on a shared CPU, more threads mostly contend)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)

    from ecamp_bench.data.synth import difficulty
    from ecamp_bench.paths import synthetic_root

    out = args.out or synthetic_root(args.synthetic_size)
    _write_layouts(out, args.synthetic_size, args.workers)
    readers = {"chexpert-cls": chexpert_arrays, "rsna-cls": rsna_arrays}
    results = {}
    for task in args.tasks.split(","):
        start = time.process_time()
        train, test = readers[task](out, args.size)
        print(f"{task}: {len(train.images)} train / {len(test.images)} test images at {args.size} px, "
              f"labels {', '.join(train.labels)}; test prevalence "
              f"{', '.join(f'{p:.2f}' for p in test.targets.mean(0))}", flush=True)
        row = {}
        for name, fn in (
            ("pixels", lambda: difficulty.pixel_probe_auc(train, test)),
            ("vit-random", lambda: difficulty.feature_probe_auc(*difficulty.random_vit(args.vit), train, test,
                                                                device=args.device)),
            ("resnet18", lambda: difficulty.supervised_cnn_auc(train, test, epochs=args.epochs, device=args.device,
                                                               log=lambda m: print("  " + m, flush=True))),
        ):
            if name not in args.classifiers.split(","):
                continue
            t = time.process_time()
            row[name] = round(fn(), 4)
            print(f"  {task} {name}: macro AUC {row[name]:.3f} ({time.process_time() - t:.0f} CPU s)", flush=True)
        row["cpu_seconds"] = round(time.process_time() - start)
        results[task] = row
    print(json.dumps({"synthetic_size": args.synthetic_size, "size": args.size, "epochs": args.epochs, "vit": args.vit,
                      "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
