"""Pre-training throughput: images/s, step time, peak memory, counted FLOP/s and MFU of the full ECAMP step,
against our reference-equivalent configuration and (``--authors-repo``) the authors' own code.

    .venv/bin/python benchmarks/pretrain_throughput.py --config paper --batch-size 4 --threads 2 --steps 3
    .venv/bin/python benchmarks/pretrain_throughput.py --config paper --set model.depth=2 --set model.decoder_depth=1 \
        --batch-size 2 --threads 2 --steps 2 --authors-repo /tmp/ECAMP --authors-python /tmp/authors-venv/bin/python
    .venv/bin/python benchmarks/pretrain_throughput.py --config paper --device cuda --batch-size 256 --amp bf16 \
        --compile-row --authors-repo /tmp/ECAMP --authors-python /tmp/authors-venv/bin/python

Two ratios, printed with their names:

- **A, ours / reference-equivalent**: the pre-training config against a configuration of *our* code that
  computes what the reference computes, the way it computes it: 3-channel SR head ending in a ReLU, every text
  padded to ``max_length`` with vocabulary logits and loss at every position (``mlm_targets: all``), cross-entropy on
  ``logits.transpose(1, 2)``, explicit (eager) attention in both towers, for-loop AdamW. Both run on ONE model
  (the switches are runtime flags), so their weights are the same. On a GPU this is not the authors' speed.
- **B, ours / the authors' code** (``--authors-repo``): their ``Pre-training/`` model and GradScaler wrapper,
  unchanged, run by ``authors_step.py`` in a separate process (``--authors-python``: e.g. a throw-away venv with
  their pinned timm 0.4.12 / transformers 4.42.4 and this machine's torch; runtime shims only, listed there), at
  the same batch size and resolution (their code fixes 224 → 448 px), in fp16 with GradScaler on CUDA as they
  run it (``--authors-amp``). Smaller ViT sizes given with ``--set model.*`` are passed to their ``ECAMP(...)``.

All timed steps (ours, and the authors' process's) are interleaved (A B C A B C ...) so that other processes'
load on a shared machine hits them alike. ``--ablation`` adds one row per change; ``--compile-row`` the config
with ``run.compile`` (compiled transformer blocks and SR branch) on a copy of the model.

Inputs: random hi-res images and MIMIC-like template reports with rule-distilled contexts (no data loading:
this is the model step: forward, backward, AdamW). Warm-up steps are not timed. FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` (matmuls/convolutions/attention, forward + backward) during the
first warm-up step of each configuration (the compiled row reuses the config's count: same computation). MFU =
counted FLOP/s over the matrix-product peak: ``--peak-tflops``, or measured on this device (a dense product of
random matrices in the step's autocast dtype). Peak memory: CUDA's max allocated on GPU; on CPU the process's
peak resident set size during each step (``_measure.PeakMemory``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import PeakMemory, matmul_tflops, synchronize  # noqa: E402  (benchmarks/ is a folder of scripts)
from text_pipeline import make_reports  # noqa: E402

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


def config_variant(cfg, amp: str) -> Variant:
    """The pre-training config as it is (``auto`` AdamW resolved on CPU/CUDA to fused)."""
    m, t = cfg.model, cfg.text.masking
    return Variant("config", m.sr_channels, m.sr_final_relu, m.attention, t.mlm_targets, t.padding, True, "flat",
                   "fused" if cfg.optim.adamw == "auto" else cfg.optim.adamw, amp)


def reference_variant(amp: str) -> Variant:
    """What the reference computes, computed its way (see the module docstring)."""
    return Variant("reference-equivalent", 3, True, "eager", "all", "max_length", False, "reference", "for-loop", amp)


def ablation(reference: Variant, config: Variant) -> list[Variant]:
    """From the reference-equivalent configuration, one change at a time (cumulative), then the config."""
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
    out.append(dataclasses.replace(config, name="config with a 64-channel SR head", sr_channels=64))
    return out


class AuthorsStep:
    """The authors' own step in a separate process (``authors_step.py``), driven line by line so that its
    steps interleave with ours."""

    def __init__(self, python: str, repo: Path, device: torch.device, batch: int, amp: str, text_length: int,
                 threads: int | None, encoder: dict | None):
        command = [python, str(Path(__file__).resolve().parent / "authors_step.py"), "--repo", str(repo),
                   "--device", str(device), "--batch-size", str(batch), "--amp", amp,
                   "--text-length", str(text_length)]
        command += ["--threads", str(threads)] if threads else []
        command += ["--encoder", json.dumps(encoder)] if encoder else []
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._answer()

    def _answer(self) -> dict:
        for line in self.process.stdout:
            if line.startswith("@@authors "):
                return json.loads(line[len("@@authors "):])
            sys.stderr.write(f"[authors] {line}")
        raise SystemExit(f"the authors' step process ended (exit code {self.process.wait()}); its messages are above")

    def run(self, command: str) -> dict:
        """``step`` or ``flops`` → the answer (seconds, peak_gib, losses[, flops])."""
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)


def authors_encoder(cfg) -> dict | None:
    """Their ``ECAMP(...)`` sizes matching our config's encoder/decoder; None when it is their ``ecamp()``
    (ViT-B/16). Their code fixes 224 → 448 px and patch 16, so other configs cannot be compared."""
    m = cfg.model
    if (m.img_size, m.patch_size, m.sr_scale) != (224, 16, 2):
        raise SystemExit("--authors-repo: the authors' code is fixed at 224 → 448 px with 16 px patches; use a "
                         "config with those sizes (e.g. --config paper, made smaller with --set model.depth=...)")
    sizes = {"embed_dim": m.embed_dim, "depth": m.depth, "num_heads": m.num_heads,
             "decoder_embed_dim": m.decoder_embed_dim, "decoder_depth": m.decoder_depth,
             "decoder_num_heads": m.decoder_num_heads}
    paper = {"embed_dim": 768, "depth": 12, "num_heads": 12, "decoder_embed_dim": 512, "decoder_depth": 4,
             "decoder_num_heads": 16}
    return None if sizes == paper else sizes


def main() -> None:
    """Parse arguments, run warm-up, FLOP count and interleaved timed steps, print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", help="pre-training config (configs/pretrain/) or a YAML path")
    parser.add_argument("--preset", dest="config", help=argparse.SUPPRESS)  # former name of --config
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set model.depth=2 for a small CPU run")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=4, help="micro-batch (default 4)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per configuration (the first "
                        "also counts FLOPs)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"],
                        help="autocast for ours (default fp32)")
    parser.add_argument("--ablation", action="store_true", help="also one row per change (cumulative)")
    parser.add_argument("--bf16-row", action="store_true", help="also the config under bf16 autocast")
    parser.add_argument("--compile-row", action="store_true", help="also the config with its transformer blocks "
                        "and SR branch compiled (run.compile: ECAMP.compile_regions), on a copy of the model")
    parser.add_argument("--authors-repo", type=Path, default=None, help="a checkout of ToniChopp/ECAMP: also time "
                        "their own Pre-training/ step in a separate process (authors_step.py)")
    parser.add_argument("--authors-python", default=sys.executable, help="the Python that runs their code (e.g. a "
                        "venv with their timm 0.4.12 and transformers 4.42.4; default: this one)")
    parser.add_argument("--authors-amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                        help="their autocast; auto = fp16 with GradScaler on CUDA (as they run it), else --amp")
    parser.add_argument("--authors-text-length", type=int, default=256, help="their padding length (256)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the matrix-product peak for MFU "
                        "(default: measured, a random dense product in the step's dtype on this device)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_pretrain_config(args.config, args.set)
    device = resolve_device(args.device)
    batch = args.batch_size
    authors = None
    if args.authors_repo is not None:  # started first: its model builds while ours does
        amp = args.authors_amp if args.authors_amp != "auto" else ("fp16" if device.type == "cuda" else args.amp)
        authors = AuthorsStep(args.authors_python, args.authors_repo, device, batch, amp, args.authors_text_length,
                              args.threads, authors_encoder(cfg))

    reference, config = reference_variant(args.amp), config_variant(cfg, args.amp)
    variants = [config, reference]
    if args.ablation:
        variants += ablation(reference, config)
    if args.bf16_row:
        variants.append(dataclasses.replace(config, name="config, bf16 autocast", amp="bf16"))
    if args.compile_row:
        variants.append(dataclasses.replace(config, name="config, compiled regions", compiled=True))

    torch.manual_seed(0)
    model = build_model(cfg, cfg.text.vocab_size).to(device)  # the config's vocabulary size: realistic logits
    heads = {cfg.model.sr_channels: model.sr_head}
    for v in variants:
        if v.sr_channels not in heads:
            heads[v.sr_channels] = SRHead(cfg.model.sr_scale, v.sr_channels, False).to(device)
    extra = [p for c, h in heads.items() if h is not model.sr_head for p in h.parameters()]
    optimizer = build_optimizer(model, cfg.optim)
    if extra:
        optimizer.add_param_group({"params": extra, "weight_decay": cfg.optim.weight_decay})
    compiled = None
    if args.compile_row:  # a copy: compile_regions compiles the blocks in place
        compiled = copy.deepcopy(model)
        compiled.compile_regions()
        compiled = (compiled, build_optimizer(compiled, cfg.optim))

    reports = make_reports(batch * (args.warmup + args.steps + 1), seed=0)
    contexts = RulesBackend().distill(reports)
    tokenizer = train_wordpiece(make_reports(2000, seed=1) + [" ".join(ENTITY_LEXICON)] * 2,
                                vocab_size=cfg.text.vocab_size)  # ids must fit the model's vocabulary
    masking = cfg.text.masking
    batchers = {(v.mlm_targets, v.padding): TextBatcher(tokenizer, dataclasses.replace(
        masking, mlm_targets=v.mlm_targets, padding=v.padding)) for v in variants}
    imgs_hr = torch.randn(batch, 3, cfg.data.hr_size, cfg.data.hr_size, device=device)
    boxes = torch.tensor([FULL_BOX] * batch, device=device) * cfg.data.hr_size
    memory = PeakMemory(device)

    def run(v: Variant, round_index: int, flops: FlopCounterMode | None = None) -> tuple[float, float, int]:
        """One optimizer step of ``v`` on round ``round_index``'s text: (seconds, peak GiB, text width)."""
        net, opt = compiled if v.compiled else (model, optimizer)
        net.sr_head = heads[v.sr_channels] if not v.compiled else net.sr_head
        net.sr_head.final_relu = v.sr_final_relu
        net.set_attention(v.attention)
        for group in opt.param_groups:
            group.update(adamw_implementation(v.adamw, net))
        sl = slice(round_index * batch, (round_index + 1) * batch)
        text = batchers[(v.mlm_targets, v.padding)](reports[sl], contexts[sl],
                                                    torch.Generator().manual_seed(round_index))
        text = text.to(device)
        torch.manual_seed(round_index)
        memory.start()
        started = time.perf_counter()
        with flops if flops is not None else contextlib.nullcontext():
            out = forward_step(net, imgs_hr, boxes, text, cfg.model.img_size, None, amp_dtype(v.amp, device),
                               sparse_logits=v.sparse_logits, loss_layout=v.loss_layout)
            out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        synchronize(device)
        return time.perf_counter() - started, memory.peak_gib(), text.input_ids.shape[1]

    flop_counts, peaks, times, widths = {}, {v: 0.0 for v in variants}, {v: [] for v in variants}, {}
    for v in variants:  # warm-up (and compilation); the first warm-up step also counts the FLOPs
        for w in range(max(args.warmup, 1)):
            counter = FlopCounterMode(display=False) if w == 0 and not v.compiled else None
            run(v, 0, counter)
            if counter is not None:
                flop_counts[v] = counter.get_total_flops()
        print(f"warmed up: {v.name}", file=sys.stderr, flush=True)
    if args.compile_row:  # compiled code is not counted (FlopCounterMode sees no aten ops): the config's count
        flop_counts[variants[-1]] = flop_counts[config]
    authors_times, authors_peak, authors_flops = [], 0.0, 0
    if authors is not None:
        authors_flops = authors.run("flops")["flops"]  # the first warm-up step counts
        for _ in range(max(args.warmup, 1) - 1):
            authors.run("step")
        print("warmed up: the authors' code", file=sys.stderr, flush=True)
    for r in range(1, args.steps + 1):  # interleaved timed rounds: A B A B ...
        for v in variants:
            seconds, peak, width = run(v, r)
            print(f"round {r}: {v.name}: {seconds:.2f} s", file=sys.stderr, flush=True)
            times[v].append(seconds)
            peaks[v] = max(peaks[v], peak)
            widths.setdefault(v, []).append(width)
        if authors is not None:
            answer = authors.run("step")
            print(f"round {r}: the authors' code: {answer['seconds']:.2f} s", file=sys.stderr, flush=True)
            authors_times.append(answer["seconds"])
            authors_peak = max(authors_peak, answer["peak_gib"])
    if authors is not None:
        authors.close()

    peak_dtype = {"off": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    peak_tflops = args.peak_tflops or matmul_tflops(device, peak_dtype)
    peak_source = "given (--peak-tflops)" if args.peak_tflops else f"measured: {peak_dtype} matrix product on {device}"
    tokens = [len(tokenizer.encode(f"[CLS] {r} {c}").ids) for r, c in zip(reports, contexts)]
    print(f"config={args.config} {' '.join(args.set)} device={device} batch={batch} threads={torch.get_num_threads()} "
          f"params={parameter_counts(model)['total'] / 1e6:.1f}M vocab={cfg.text.vocab_size} "
          f"autocast={args.amp} timed steps/config={args.steps} (interleaved) warm-up={args.warmup}")
    print(f"text: template reports with their rule context (inserted with p {masking.context_prob}): "
          f"{statistics.mean(tokens):.0f} tokens on average, longest {max(tokens)}; max_length {masking.max_length}")
    print(f"matrix-product peak for MFU: {peak_tflops:.3g} TFLOP/s ({peak_source})")
    print("Timed steps of all configurations are interleaved, so load from other processes on a shared machine "
          "hits them alike; absolute figures are inflated by that load, the ratios are what to compare.")
    header = (f"{'configuration':<46} {'images/s':>9} {'s/step':>8} {'GFLOP/step':>11} {'TFLOP/s':>8} {'MFU':>6} "
              f"{'peak GiB':>9} {'text L':>7} {'vs ref':>7}")
    print(header)
    print("-" * len(header))
    ref_rate = batch / statistics.median(times[reference])
    rows = [(v.name, times[v], flop_counts[v], peaks[v], statistics.mean(widths[v])) for v in variants]
    if authors is not None:
        info = authors.info
        rows.append((f"the authors' code ({info['amp']})", authors_times, authors_flops, authors_peak,
                     info["text_length"]))
    for name, step_times, flops, peak, width in rows:
        step = statistics.median(step_times)
        tflops = flops / step / 1e12
        print(f"{name:<46} {batch / step:>9.3f} {step:>8.3f} {flops / 1e9:>11.1f} {tflops:>8.3f} "
              f"{tflops / peak_tflops:>6.1%} {peak:>9.2f} {width:>7.0f} {batch / step / ref_rate:>6.2f}x")
    config_step = statistics.median(times[config])
    print(f"ratio A, ours (config) / our reference-equivalent configuration (our code run the reference's way): "
          f"{statistics.median(times[reference]) / config_step:.2f}x")
    if authors is not None:
        authors_step = statistics.median(authors_times)
        print(f"ratio B, ours (config) / the authors' own code (their Pre-training/, separate process, torch "
              f"{info['versions']['torch']}, timm {info['versions']['timm']}, transformers "
              f"{info['versions']['transformers']}, autocast {info['amp']}): {authors_step / config_step:.2f}x")
        if args.compile_row:
            print(f"ratio B with compiled regions: {authors_step / statistics.median(times[variants[-1]]):.2f}x")


if __name__ == "__main__":
    main()
