"""Data-path throughput per DataLoader worker from full-size (MIMIC-CXR-JPG-like) JPEGs: images/s.

    .venv/bin/python benchmarks/data_path.py --images 12 --rounds 3

Writes ``--images`` synthetic 3000×2500 grey JPEGs (smooth anatomy-like shading plus film noise, quality 95,
~1–2 MB each like MIMIC-CXR-JPG) into a temporary folder, then times what one worker does per sample
(``PretrainDataset.__getitem__``: decode, random resized crop to 448, flip, normalise) in one process:

- full decode (``data.reduced_decode: false``: the whole 3000×2500 image every time),
- JPEG draft decoding (the default: libjpeg decodes at 1/2 scale, shorter side >= 448 / sqrt(0.2) = 1002),
- the prepared copy (``ecamp-bench data prepare --size 1024``, made once; its time is printed),

and the text collate (context insertion, tokenisation, masking) per sample, which now runs in the worker too.
The three image paths are interleaved sample by sample so other processes' load hits them alike.
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
from ecamp_bench.pretrain.data import PretrainDataset, PretrainPair  # noqa: E402
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
    """Write the JPEGs, prepare the copy, time the three image paths interleaved and the text collate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images per path")
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2500)
    parser.add_argument("--size", type=int, default=1024, help="shorter side of the prepared copy")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a DataLoader worker runs single-threaded
    with tempfile.TemporaryDirectory(prefix="ecamp-data-path-") as tmp:
        tmp = Path(tmp)
        os.environ["ECAMP_BENCH_CACHE"] = str(tmp / "cache")  # the prepared copy and its registry stay here
        from ecamp_bench.data.prepared import prepare_tree

        paths = write_radiographs(tmp / "mimic", args.images, args.width, args.height)
        mb = statistics.mean(p.stat().st_size for p in paths) / 2**20
        cfg = DataConfig()
        pairs = [PretrainPair(p.stem, str(p), "", None) for p in paths]

        def dataset(min_side):
            return PretrainDataset(pairs, hr_size=cfg.hr_size, crop_scale=tuple(cfg.crop_scale),
                                   crop_ratio=tuple(cfg.crop_ratio), hflip_prob=cfg.hflip_prob, mean=cfg.mean,
                                   std=cfg.std, sr_rule=build_sr_rule("full", 12, 14), seed=0,
                                   image_loader=partial(default_image_loader, min_side=min_side))

        full = dataset(None)
        draft = dataset(decode_min_side(cfg))
        times: dict[str, list[float]] = {"full decode": [], "JPEG draft decode": []}

        def timed(name, ds, epoch, index):
            t0 = time.perf_counter()
            ds[(epoch, index)]
            times.setdefault(name, []).append(time.perf_counter() - t0)

        for epoch in range(args.rounds):  # without a prepared copy
            for index in range(len(pairs)):
                timed("full decode", full, epoch, index)
                timed("JPEG draft decode", draft, epoch, index)
        started = time.perf_counter()
        summary = prepare_tree(tmp / "mimic", args.size, workers=1)
        prepare_s = time.perf_counter() - started
        for epoch in range(args.rounds):  # with it (the draft loader now finds the copy)
            for index in range(len(pairs)):
                timed("full decode", full, epoch, index)
                timed(f"prepared copy ({args.size} px)", draft, epoch, index)

        reports = make_reports(256)
        from ecamp_bench.text.distill_rules import RulesBackend
        from ecamp_bench.text.masking import TextBatcher
        from ecamp_bench.text.tokenizer import train_wordpiece

        contexts = RulesBackend().distill(reports)
        batcher = TextBatcher(train_wordpiece(make_reports(2000, seed=1), vocab_size=30000))
        t0 = time.perf_counter()
        for i in range(0, 256, 32):
            batcher(reports[i : i + 32], contexts[i : i + 32], torch.Generator().manual_seed(i))
        text_rate = 256 / (time.perf_counter() - t0)

    print(f"{args.images} JPEGs of {args.width}×{args.height} ({mb:.1f} MB on average), {args.rounds} rounds, "
          f"one process, 1 torch thread (= one DataLoader worker); paths interleaved sample by sample, so load "
          f"from other processes hits them alike (absolute figures are inflated by it)")
    print(f"data prepare --size {args.size}: {summary.written} images in {prepare_s:.1f} s, 1 process "
          f"({summary.written / prepare_s:.1f} images/s; runs once)")
    base = args.images * args.rounds * 2 / sum(times["full decode"])
    print(f"{'image path (decode + crop 448 + flip + normalise)':<52} {'images/s/worker':>16} {'ms/image':>9} {'speed-up':>9}")
    for name, values in times.items():
        rate = len(values) / sum(values)
        print(f"{name:<52} {rate:>16.1f} {1000 / rate:>9.1f} {rate / base:>8.1f}x")
    print(f"{'text collate (context + tokenise + mask), per sample':<52} {text_rate:>16.0f}")


if __name__ == "__main__":
    main()
