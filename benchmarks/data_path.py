"""Data-path cost per sample from full-size (MIMIC-CXR-JPG-like) JPEGs, and end-to-end `pretrain` samples/s.

    .venv/bin/python benchmarks/data_path.py --images 8 --rounds 2 --e2e-steps 12
    .venv/bin/python benchmarks/data_path.py --device cuda --e2e-config paper --e2e-set optim.batch_size=256 \
        --e2e-set data.num_workers=16 --e2e-set run.compile=true --e2e-steps 60

Writes ``--images`` synthetic 3000×2500 grey JPEGs (smooth anatomy-like shading plus film noise, quality 95,
~1–3 MB each like MIMIC-CXR-JPG) into a temporary folder, then measures what ONE DataLoader worker spends per
sample, as CPU time (``time.process_time``: meaningful on a loaded machine, unlike wall time), one torch thread:
the sample (``PretrainDataset.__getitem__``) plus its share of the batch collate, for

- full decode, augmented in the worker (``data.reduced_decode: false``; decode, crop, resize 448, flip, normalise),
- JPEG draft decode, augmented in the worker (libjpeg decodes at 1/2 scale: shorter side >= 448 / sqrt(0.2)),
- the prepared copy (``ecamp-bench data prepare --size 1024``, made once; its time is printed), in the worker,
- the GPU-fed path (what training on a GPU uses): the prepared copy decoded and cropped on its uint8 pixels in the
  worker; resize, flip and normalise run batched on the device (``augment_on_device``, timed separately on a
  GPU; on a CPU its cost is printed for information, it is not worker time), and the same from the original
  JPEG with draft decoding (no prepared copy).

The paths are interleaved sample by sample so other processes' load hits them alike. Then the text collate
per sample, and the end-to-end rate of ``ecamp-bench pretrain`` (``run_pretraining``, as the CLI runs it) on the
synthetic default data: samples/s over the steps after the first and over the second half of the steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_pipeline import make_reports  # noqa: E402

from ecamp_bench.models.sr_region import build_sr_rule  # noqa: E402
from ecamp_bench.pretrain.config import DataConfig  # noqa: E402
from ecamp_bench.pretrain.data import PretrainDataset, PretrainPair, augment_on_device, collate  # noqa: E402
from ecamp_bench.pretrain.setup import decode_min_side, default_image_loader  # noqa: E402


def write_radiographs(folder: Path, n: int, width: int, height: int) -> list[Path]:
    """``n`` grey JPEGs of ``width``×``height``: a smooth chest-like field plus noise (realistic file sizes)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= height
    x /= width
    base = 0.25 + 0.5 * np.exp(-(((x - 0.3) / 0.18) ** 2 + ((y - 0.55) / 0.3) ** 2)) \
        + 0.5 * np.exp(-(((x - 0.7) / 0.18) ** 2 + ((y - 0.55) / 0.3) ** 2))
    paths = []
    for i in range(n):
        img = base * (0.9 + 0.2 * rng.random()) + rng.normal(0, 0.03, size=base.shape).astype(np.float32)
        path = folder / "files" / f"p1{i % 10}" / f"s{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L").save(path, quality=95)
        paths.append(path)
    return paths


def main() -> None:
    """Write the JPEGs, prepare the copy, time the paths interleaved, the text collate and the end-to-end run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the images per path")
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2500)
    parser.add_argument("--size", type=int, default=1024, help="shorter side of the prepared copy")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--e2e-config", default=None, help="pre-training config of the end-to-end run (default: "
                        "paper on CUDA, cpu-small on CPU)")
    parser.add_argument("--e2e-preset", dest="e2e_config", help=argparse.SUPPRESS)  # former name of --e2e-config
    parser.add_argument("--e2e-set", action="append", default=[], metavar="KEY=VALUE", help="its overrides")
    parser.add_argument("--e2e-steps", type=int, default=12, help="optimizer steps of the end-to-end run (0: skip)")
    args = parser.parse_args()
    from ecamp_bench.distributed import resolve_device

    device = resolve_device(args.device)
    torch.set_num_threads(1)  # a DataLoader worker runs single-threaded
    with tempfile.TemporaryDirectory(prefix="ecamp-data-path-") as tmp:
        tmp = Path(tmp)
        os.environ["ECAMP_BENCH_CACHE"] = str(tmp / "cache")  # the prepared copy and its registry stay here
        from ecamp_bench.data.prepared import prepare_tree

        paths = write_radiographs(tmp / "mimic", args.images, args.width, args.height)
        mb = statistics.mean(p.stat().st_size for p in paths) / 2**20
        cfg = DataConfig()
        pairs = [PretrainPair(p.stem, str(p), "", None) for p in paths]

        def dataset(min_side, augment_on="worker"):
            return PretrainDataset(pairs, hr_size=cfg.hr_size, crop_scale=tuple(cfg.crop_scale),
                                   crop_ratio=tuple(cfg.crop_ratio), hflip_prob=cfg.hflip_prob, mean=cfg.mean,
                                   std=cfg.std, sr_rule=build_sr_rule("full", 12, 14), seed=0,
                                   image_loader=partial(default_image_loader, min_side=min_side),
                                   augment_on=augment_on)

        cpu_ms: dict[str, list[float]] = {}
        device_ms: list[float] = []

        def timed(name, ds, epoch, index):
            """CPU ms of one sample and of collating it (its share of a batch)."""
            t0 = time.process_time()
            item = ds[(epoch, index)]
            batch = collate([item])
            cpu_ms.setdefault(name, []).append((time.process_time() - t0) * 1000)
            return batch

        full, draft = dataset(None), dataset(decode_min_side(cfg))
        fed = dataset(decode_min_side(cfg), "device")
        gpu_fed = "GPU-fed: decode + uint8 crop in the worker"
        for epoch in range(args.rounds):  # without a prepared copy
            for index in range(len(pairs)):
                timed("full decode, augmented in the worker", full, epoch, index)
                timed("JPEG draft decode, augmented in the worker", draft, epoch, index)
                timed(f"{gpu_fed} (JPEG draft decode)", fed, epoch, index)
        started = time.perf_counter()
        summary = prepare_tree(tmp / "mimic", args.size, workers=1)
        prepare_s = time.perf_counter() - started
        for epoch in range(args.rounds):  # with it (the reduced-decode loaders now find the copy)
            for index in range(len(pairs)):
                timed(f"prepared copy ({args.size} px), augmented in the worker", draft, epoch, index)
                batch = timed(f"{gpu_fed} (prepared copy, {args.size} px)", fed, epoch, index)
                sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
                sync()
                t0 = time.perf_counter()
                augment_on_device(batch["crops"], batch["flip"], cfg.hr_size, cfg.mean, cfg.std, device)
                sync()
                device_ms.append((time.perf_counter() - t0) * 1000)

        reports = make_reports(256)
        from ecamp_bench.text.distill_rules import RulesBackend
        from ecamp_bench.text.masking import TextBatcher
        from ecamp_bench.text.tokenizer import train_wordpiece

        contexts = RulesBackend().distill(reports)
        batcher = TextBatcher(train_wordpiece(make_reports(2000, seed=1), vocab_size=30000))
        t0 = time.process_time()
        for i in range(0, 256, 32):
            batcher(reports[i : i + 32], contexts[i : i + 32], torch.Generator().manual_seed(i))
        text_ms = (time.process_time() - t0) * 1000 / 256

    print(f"{args.images} JPEGs of {args.width}×{args.height} ({mb:.1f} MB on average), {args.rounds} rounds, "
          f"one process, 1 torch thread (= one DataLoader worker); CPU time (time.process_time) per sample incl. "
          f"its collate; paths interleaved sample by sample")
    print(f"data prepare --size {args.size}: {summary.written} images in {prepare_s:.1f} s wall, 1 process (runs once)")
    print(f"{'image path':<72} {'CPU ms/sample':>14} {'samples/s/core':>15}")
    for name, values in cpu_ms.items():
        ms = statistics.mean(values)
        print(f"{name:<72} {ms:>14.1f} {1000 / ms:>15.1f}")
    where = "on the GPU" if device.type == "cuda" else "on this CPU, main process: NOT worker time"
    print(f"{'  + resize/flip/normalise of the GPU-fed path, batch of 1, ' + where:<72} "
          f"{statistics.median(device_ms):>14.1f} (wall ms, median)")
    print(f"{'text collate (context + tokenise + mask), per sample':<72} {text_ms:>14.2f}")
    if args.e2e_steps:
        end_to_end(args, device)


def end_to_end(args, device) -> None:
    """Samples/s of ``run_pretraining`` (the CLI's engine) on the synthetic default data, steps 2..N."""
    from ecamp_bench.pretrain.config import load_pretrain_config
    from ecamp_bench.pretrain.loop import run_pretraining

    torch.set_num_threads(os.cpu_count() or 1)
    config = args.e2e_config or ("paper" if device.type == "cuda" else "cpu-small")
    overrides = [f"run.max_steps={args.e2e_steps}", "run.export=false", "probe.every=0",
                 f"run.checkpoint_every={10**9}", f"run.device={device.type}", *args.e2e_set]
    cfg = load_pretrain_config(config, overrides)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ecamp-e2e-") as tmp:
        run_pretraining(cfg, Path(tmp) / "run", on_step=lambda info: stamps.append(time.perf_counter()))
    global_batch = cfg.optim.batch_size * cfg.optim.accum_steps

    def rate(first: int) -> float:  # samples/s from the end of step `first` (1-based) to the last step
        if len(stamps) <= first:
            return float("nan")
        return (len(stamps) - first) * global_batch / (stamps[-1] - stamps[first - 1])

    half = max(1, len(stamps) // 2)
    print(f"end to end: `ecamp-bench pretrain --config {config}` ({' '.join(args.e2e_set) or 'as configured'}) on "
          f"{device.type}, synthetic default data, {cfg.data.num_workers} workers, batch {global_batch}: "
          f"{rate(1):.1f} samples/s over steps 2..{len(stamps)}, {rate(half):.1f} over steps {half + 1}..{len(stamps)} "
          f"(steady state: worker start-up and compilation are in the first steps; wall clock)")


if __name__ == "__main__":
    main()
