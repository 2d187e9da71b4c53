"""Pre-training throughput: images/s, step time, peak memory and achieved FLOP/s of the full ECAMP step.

    .venv/bin/python benchmarks/pretrain_throughput.py --preset paper --batch-size 4 --threads 2 --steps 3
    .venv/bin/python benchmarks/pretrain_throughput.py --preset paper --batch-size 4 --threads 2 --ablation
    .venv/bin/python benchmarks/pretrain_throughput.py --preset paper --device cuda --batch-size 64 --amp bf16

Measures the preset as configured against a **reference-equivalent** configuration of our own code (what the
reference computes, the way it computes it): 3-channel SR head ending in a ReLU, every text padded to
``max_length`` with vocabulary logits and loss at every position (``mlm_targets: all``), cross-entropy on
``logits.transpose(1, 2)``, explicit (eager) attention in both towers, for-loop AdamW (the reference's
default on CPU). Both run on ONE model (the switches are runtime flags, the SR heads are swapped), so their
weights are the same; their timed steps are interleaved (A B A B ...) so that other processes' load on a
shared machine hits both alike, and the ratio comes from one run. ``--ablation`` adds one row per change.

Inputs: random hi-res images and MIMIC-like template reports with rule-distilled contexts (no data loading:
this is the model step: forward, backward, AdamW). Warm-up steps are not timed. FLOPs are counted once per
configuration with ``torch.utils.flop_counter.FlopCounterMode`` (matmuls/convolutions/attention, forward +
backward) during its first warm-up step. Peak memory: CUDA's max allocated on GPU; on CPU the process's peak resident set size during that
configuration's steps (Linux: the high-water mark is reset before each step through /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_pipeline import make_reports  # noqa: E402  (benchmarks/ is a folder of scripts)

from ecamp_bench.distributed import resolve_device  # noqa: E402
from ecamp_bench.models.ecamp import SRHead, parameter_counts  # noqa: E402
from ecamp_bench.models.sr_region import FULL_BOX  # noqa: E402
from ecamp_bench.pretrain.config import load_pretrain_config  # noqa: E402
from ecamp_bench.pretrain.loop import amp_dtype, build_model, forward_step  # noqa: E402
from ecamp_bench.pretrain.optim import adamw_implementation, build_optimizer  # noqa: E402
from ecamp_bench.text.distill_rules import RulesBackend  # noqa: E402
from ecamp_bench.text.entities import ENTITY_LEXICON  # noqa: E402
from ecamp_bench.text.masking import TextBatcher  # noqa: E402
from ecamp_bench.text.tokenizer import train_wordpiece  # noqa: E402


@dataclass(frozen=True)
class Variant:
    """One configuration of the step; every field is a runtime switch on the shared model."""

    name: str
    sr_channels: int
    sr_final_relu: bool
    attention: str  # sdpa | eager
    mlm_targets: str  # all | masked
    padding: str  # auto | max_length
    sparse_logits: bool
    loss_layout: str  # flat | reference
    adamw: str  # fused | foreach | for-loop
    amp: str = "off"
    compiled: bool = False


def preset_variant(cfg, amp: str) -> Variant:
    """The preset as configured (``auto`` AdamW resolved on CPU/CUDA to fused)."""
    m, t = cfg.model, cfg.text.masking
    return Variant("preset", m.sr_channels, m.sr_final_relu, m.attention, t.mlm_targets, t.padding, True, "flat",
                   "fused" if cfg.optim.adamw == "auto" else cfg.optim.adamw, amp)


def reference_variant(amp: str) -> Variant:
    """What the reference computes, computed its way (see the module docstring)."""
    return Variant("reference-equivalent", 3, True, "eager", "all", "max_length", False, "reference", "for-loop", amp)


def ablation(reference: Variant, preset: Variant) -> list[Variant]:
    """From the reference-equivalent configuration, one change at a time (cumulative), then the preset."""
    steps = [("+ flattened cross-entropy", {"loss_layout": "flat"}),
             ("+ SDPA attention (both towers)", {"attention": "sdpa"}),
             ("+ fused AdamW", {"adamw": "fused"}),
             ("+ no final SR ReLU", {"sr_final_relu": False}),
             ("+ loss on masked tokens, logits only there", {"mlm_targets": "masked", "sparse_logits": True}),
             ("+ pad to longest (multiple of 8)", {"padding": "auto"})]
    out, current = [], reference
    for name, change in steps:
        current = dataclasses.replace(current, name=name, **change)
        out.append(current)
    out.append(dataclasses.replace(preset, name="preset with a 64-channel SR head", sr_channels=64))
    return out


class PeakRSS:
    """Peak resident set size (GiB) of this process during a block; resettable on Linux."""

    def __init__(self):
        self.resettable = self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def start(self) -> None:
        if self.resettable:
            self._reset()

    def peak_gib(self) -> float:
        if self.resettable:
            match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
            if match:
                return int(match.group(1)) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    """Parse arguments, run warm-up, FLOP count and interleaved timed steps, print the table and ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=4, help="micro-batch (default 4)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per configuration (the first "
                        "also counts FLOPs)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"], help="autocast for both (default fp32)")
    parser.add_argument("--ablation", action="store_true", help="also one row per change (cumulative)")
    parser.add_argument("--bf16-row", action="store_true", help="also the preset under bf16 autocast")
    parser.add_argument("--compile-row", action="store_true", help="also the preset under torch.compile")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_pretrain_config(args.preset)
    device = resolve_device(args.device)
    batch = args.batch_size

    reference, preset = reference_variant(args.amp), preset_variant(cfg, args.amp)
    variants = [preset, reference]
    if args.ablation:
        variants += ablation(reference, preset)
    if args.bf16_row:
        variants.append(dataclasses.replace(preset, name="preset, bf16 autocast", amp="bf16"))
    if args.compile_row:
        variants.append(dataclasses.replace(preset, name="preset, torch.compile", compiled=True))

    torch.manual_seed(0)
    model = build_model(cfg, cfg.text.vocab_size).to(device)  # the preset's vocabulary size: realistic logits
    heads = {cfg.model.sr_channels: model.sr_head}
    for v in variants:
        if v.sr_channels not in heads:
            heads[v.sr_channels] = SRHead(cfg.model.sr_scale, v.sr_channels, False).to(device)
    extra = [p for c, h in heads.items() if h is not model.sr_head for p in h.parameters()]
    optimizer = build_optimizer(model, cfg.optim)
    if extra:
        optimizer.add_param_group({"params": extra, "weight_decay": cfg.optim.weight_decay})
    compiled = torch.compile(model) if any(v.compiled for v in variants) else None

    reports = make_reports(batch * (args.warmup + args.steps + 1), seed=0)
    contexts = RulesBackend().distill(reports)
    tokenizer = train_wordpiece(make_reports(2000, seed=1) + [" ".join(ENTITY_LEXICON)] * 2,
                                vocab_size=cfg.text.vocab_size)  # ids must fit the model's vocabulary
    masking = cfg.text.masking
    batchers = {(v.mlm_targets, v.padding): TextBatcher(tokenizer, dataclasses.replace(
        masking, mlm_targets=v.mlm_targets, padding=v.padding)) for v in variants}
    imgs_hr = torch.randn(batch, 3, cfg.data.hr_size, cfg.data.hr_size, device=device)
    boxes = torch.tensor([FULL_BOX] * batch, device=device) * cfg.data.hr_size
    rss = PeakRSS()

    def run(v: Variant, round_index: int, flops: FlopCounterMode | None = None) -> tuple[float, float, int]:
        """One optimizer step of ``v`` on round ``round_index``'s text: (seconds, peak GiB, text width)."""
        model.sr_head = heads[v.sr_channels]
        model.sr_head.final_relu = v.sr_final_relu
        model.set_attention(v.attention)
        for group in optimizer.param_groups:
            group.update(adamw_implementation(v.adamw, model))
        sl = slice(round_index * batch, (round_index + 1) * batch)
        text = batchers[(v.mlm_targets, v.padding)](reports[sl], contexts[sl], torch.Generator().manual_seed(round_index))
        text = text.to(device)
        torch.manual_seed(round_index)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        rss.start()
        started = time.perf_counter()
        with flops if flops is not None else contextlib.nullcontext():
            out = forward_step(compiled if v.compiled else model, imgs_hr, boxes, text, cfg.model.img_size, None,
                               amp_dtype(v.amp, device), sparse_logits=v.sparse_logits, loss_layout=v.loss_layout)
            out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) / 2**30
        else:
            peak = rss.peak_gib()
        return time.perf_counter() - started, peak, text.input_ids.shape[1]

    flop_counts, peaks, times, widths = {}, {v: 0.0 for v in variants}, {v: [] for v in variants}, {}
    for v in variants:  # warm-up (and compilation); the first warm-up step also counts the FLOPs
        for w in range(max(args.warmup, 1)):
            counter = FlopCounterMode(display=False) if w == 0 else None
            run(v, 0, counter)
            if counter is not None:
                flop_counts[v] = counter.get_total_flops()
        print(f"warmed up: {v.name}", file=sys.stderr, flush=True)
    for r in range(1, args.steps + 1):  # interleaved timed rounds: A B A B ...
        for v in variants:
            seconds, peak, width = run(v, r)
            print(f"round {r}: {v.name}: {seconds:.2f} s", file=sys.stderr, flush=True)
            times[v].append(seconds)
            peaks[v] = max(peaks[v], peak)
            widths.setdefault(v, []).append(width)

    tokens = [len(tokenizer.encode(f"[CLS] {r} {c}").ids) for r, c in zip(reports, contexts)]
    print(f"preset={args.preset} device={device} batch={batch} threads={torch.get_num_threads()} "
          f"params={parameter_counts(model)['total'] / 1e6:.1f}M vocab={cfg.text.vocab_size} "
          f"autocast={args.amp} timed steps/config={args.steps} (interleaved) warm-up={args.warmup}")
    print(f"text: template reports with their rule context (inserted with p {masking.context_prob}): "
          f"{statistics.mean(tokens):.0f} tokens on average, longest {max(tokens)}; max_length {masking.max_length}")
    print("Timed steps of all configurations are interleaved, so load from other processes on a shared machine "
          "hits them alike; absolute figures are inflated by that load, the ratios are what to compare.")
    header = f"{'configuration':<46} {'images/s':>9} {'s/step':>8} {'GFLOP/step':>11} {'GFLOP/s':>8} {'peak GiB':>9} {'text L':>7} {'vs ref':>7}"
    print(header)
    print("-" * len(header))
    ref_rate = batch / statistics.median(times[reference])
    for v in variants:
        step = statistics.median(times[v])
        gflop = flop_counts[v] / 1e9
        print(f"{v.name:<46} {batch / step:>9.3f} {step:>8.3f} {gflop:>11.1f} {gflop / step:>8.1f} {peaks[v]:>9.2f} "
              f"{statistics.mean(widths[v]):>7.0f} {batch / step / ref_rate:>6.2f}x")
    print(f"ratio preset / reference-equivalent (images/s, median step): "
          f"{statistics.median(times[reference]) / statistics.median(times[preset]):.2f}x")


if __name__ == "__main__":
    main()
