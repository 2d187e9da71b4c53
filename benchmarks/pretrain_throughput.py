"""Pre-training throughput: samples/s and peak memory of the full ECAMP step for a preset on a device.

    python benchmarks/pretrain_throughput.py --preset cpu-small --device cpu --steps 5
    python benchmarks/pretrain_throughput.py --preset paper --device cuda --batch-size 64

Feeds random hi-res images and synthetic text (no data loading: this measures the model step: forward,
backward, AdamW) with the preset's micro-batch (or ``--batch-size``). Warm-up steps are not timed. Peak
memory is CUDA's max allocated on GPU, the process's peak RSS on CPU.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from ecamp_bench.models.ecamp import parameter_counts
from ecamp_bench.models.sr_region import FULL_BOX
from ecamp_bench.pretrain.config import load_pretrain_config
from ecamp_bench.distributed import resolve_device
from ecamp_bench.pretrain.loop import amp_dtype, build_model, forward_step
from ecamp_bench.pretrain.optim import build_optimizer
from ecamp_bench.text.masking import TextBatcher
from ecamp_bench.text.tokenizer import train_wordpiece

REPORT = ("Small left pleural effusion with adjacent atelectasis. Mild cardiomegaly. There is no pneumothorax. "
          "There is no evidence of focal consolidation. Right upper lobe nodule is unchanged.")


def main() -> None:
    """Parse arguments, run warm-up plus timed steps, print one result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=None, help="micro-batch (default: the preset's)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_pretrain_config(args.preset)
    device = resolve_device(args.device)
    batch = args.batch_size or cfg.optim.batch_size
    torch.manual_seed(0)
    model = build_model(cfg, cfg.text.vocab_size).to(device)
    optimizer = build_optimizer(model, cfg.optim)
    tokenizer = train_wordpiece([REPORT] * 8, vocab_size=500, min_frequency=1)
    text = TextBatcher(tokenizer, cfg.text.masking)([REPORT] * batch, [None] * batch, torch.Generator().manual_seed(0))
    text = text.to(device)
    imgs_hr = torch.randn(batch, 3, cfg.data.hr_size, cfg.data.hr_size, device=device)
    boxes = torch.tensor([FULL_BOX] * batch, device=device) * cfg.data.hr_size
    dtype = amp_dtype(cfg.optim.amp, device)

    def step() -> None:
        out = forward_step(model, imgs_hr, boxes, text, cfg.model.img_size, None, dtype)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    elapsed = time.perf_counter() - started
    params = parameter_counts(model)["total"] / 1e6
    print(f"preset={args.preset} device={device} amp={dtype} batch={batch} params={params:.1f}M "
          f"threads={torch.get_num_threads()} steps={args.steps}: {batch * args.steps / elapsed:.1f} samples/s, "
          f"{elapsed / args.steps:.3f} s/step, peak memory {peak:.2f} GiB")


if __name__ == "__main__":
    main()
