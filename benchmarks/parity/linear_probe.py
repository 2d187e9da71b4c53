"""Parity of the linear probe: MGCA's classifier (``SSLFineTuner`` under pytorch-lightning) versus ours.

Usage (from the repository root)::

    python benchmarks/parity/linear_probe.py --authors-repo /tmp/MGCA \
        --authors-python /tmp/parity-venv/bin/python --seeds 0,1,2 [--task rsna-cls] [--fraction 1.0]

Identical inputs on both sides, for each seed: the synthetic task's split of that seed (our splitter), the
same frozen encoder (one random initialisation, ``--init-seed``, saved whole and loaded by the other
process), the same preprocessed images (our ``ImageDataset`` tensors, no augmentation on either side) and
the same hyper-parameters (the ``linear`` protocol's ``--preset``). Ours: the protocol's own functions
(features in eval mode, ``train_linear_head``, ``probabilities``, the task's ``score``). Theirs: their
LightningModule, callbacks and loader settings (``authors_shim.py linear-mgca``). Prints one row per seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import default_python, identify_repos, markdown_table, run_authors, within_noise  # noqa: E402

from ecamp_bench.evaluation.context import Predictions, attach_truth  # noqa: E402
from ecamp_bench.evaluation.features import ImageDataset  # noqa: E402
from ecamp_bench.evaluation.linear_probe import probabilities, train_linear_head  # noqa: E402
from ecamp_bench.evaluation.runner import RunRequest, make_context, prepare_run  # noqa: E402
from ecamp_bench.plugins import get_catalog  # noqa: E402

# A small ViT at 64 px: cheap enough to run every training step's forward on this CPU (MGCA does not cache).
TINY_VIT = ["backbone.arch=vit_tiny_patch16_224", "backbone.input_size=64", 'backbone.model_kwargs={"img_size": 64}']


def images(table, backbone) -> np.ndarray:
    """Our preprocessed, normalised images ``[N, 3, S, S]`` of ``table`` (what feature extraction sees)."""
    data = ImageDataset(table.samples, backbone.input_size, backbone.spec.mean, backbone.spec.std)
    return torch.stack([data[i][0] for i in range(len(data))]).numpy()


@torch.no_grad()
def features(backbone, x: np.ndarray, batch: int = 64) -> torch.Tensor:
    """Global features ``[N, D]`` in eval mode, as the protocol's extraction computes them."""
    backbone.eval()
    return torch.cat([backbone.forward_global(torch.from_numpy(x[s : s + batch])) for s in range(0, len(x), batch)])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Linear probe: MGCA's SSLFineTuner versus ours")
    parser.add_argument("--authors-repo", type=Path, action="append", required=True, help="a checkout of MGCA")
    parser.add_argument("--authors-python", default=default_python())
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--task", default="rsna-cls")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--init-seed", type=int, default=1000, help="seed of the one encoder initialisation")
    parser.add_argument("--authors-no-drop-last", action="store_true",
                        help="diagnostic: MGCA's train and val loaders keep every image (theirs drop the last batch)")
    args = parser.parse_args(argv)
    repos = identify_repos(args.authors_repo)
    if "mgca" not in repos:
        raise SystemExit("linear_probe.py needs --authors-repo pointing at a checkout of HKU-MedAI/MGCA")
    catalog = get_catalog()
    rows, ours_all, theirs_all = [], [], []
    with tempfile.TemporaryDirectory(prefix="parity-linear-") as tmp:
        encoder_file = Path(tmp) / "encoder.pt"
        for seed in (int(s) for s in args.seeds.split(",")):
            request = RunRequest(task=args.task, fraction=args.fraction, seed=seed, protocol="linear",
                                 backbone="random-init", preset=args.preset, overrides=list(TINY_VIT))
            plan = prepare_run(request, catalog)
            ctx = make_context(plan)
            torch.manual_seed(args.init_seed)
            backbone = ctx.build_backbone().eval().requires_grad_(False)
            torch.save(backbone, encoder_file)
            x = {name: images(getattr(ctx, name), backbone) for name in ("train", "val", "test")}
            y = {name: np.asarray(ctx.targets(getattr(ctx, name)), dtype=np.float32)
                 for name in ("train", "val", "test")}
            single, params = plan.task.single_label, plan.params
            t0 = time.process_time()
            head = train_linear_head(features(backbone, x["train"]), torch.from_numpy(y["train"]),
                                     features(backbone, x["val"]), torch.from_numpy(y["val"]), params, seed=seed,
                                     device=torch.device("cpu"), single_label=single)
            with torch.no_grad():
                scores = probabilities(head(features(backbone, x["test"])), single).numpy()
            predictions = attach_truth(plan.impl, plan.task, ctx.test,
                                       Predictions(ids=tuple(ctx.test.ids), targets=None, scores=scores,
                                                   label_names=ctx.labels))
            metric = plan.impl.score(plan.task, predictions, n_bootstrap=0, seed=seed)[0]
            ours_cpu = time.process_time() - t0
            arrays = {f"x_{k}": v for k, v in x.items()} | {f"y_{k}": v for k, v in y.items()}
            arrays |= {"single_label": np.array(single), "n_features": np.array(backbone.num_features)}
            t0 = time.perf_counter()
            theirs = run_authors(
                "linear-mgca", repos["mgca"], arrays, python=args.authors_python, batch_size=params.batch_size,
                backbone=encoder_file, lr=params.lr, weight_decay=params.weight_decay, max_epochs=params.max_epochs,
                patience=params.patience, seed=seed, no_drop_last=args.authors_no_drop_last,
            )
            ours_all.append(metric.value)
            theirs_all.append(theirs["value"])
            rows.append([seed, len(ctx.train), len(ctx.val), len(ctx.test), metric.name, metric.value, theirs["value"],
                         metric.value - theirs["value"], theirs["epochs"]])
            print(f"seed {seed}: ours {metric.value:.4f} ({ours_cpu:.1f} s CPU), MGCA {theirs['value']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s wall)", file=sys.stderr)
    print(f"task {args.task}, fraction {args.fraction}, preset {args.preset}: {plan.params}")
    header = ["seed", "train", "val", "test", "metric", "ours", "MGCA", "ours - MGCA", "MGCA epochs"]
    print(markdown_table(header, rows))
    diff, noise, ok = within_noise(ours_all, theirs_all)
    print(f"\nmean ours {np.mean(ours_all):.4f}, MGCA {np.mean(theirs_all):.4f}; mean difference {diff:+.4f}, "
          f"seed sd {noise:.4f}: {'within' if ok else 'OUTSIDE'} seed noise")


if __name__ == "__main__":
    main()
