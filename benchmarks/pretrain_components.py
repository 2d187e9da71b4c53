"""What each change of the pre-training step is worth, timed on the part of the step it changes (paper sizes).

    .venv/bin/python benchmarks/pretrain_components.py --threads 2 --reps 3

A full ViT-B step per configuration is minutes on a loaded 2-core machine; each change here is timed on its
own part, forward + backward (AdamW: one step), at the ``paper`` pre-training config's sizes with batch 4:

- MLM cross-entropy on [4, 256, 30000] logits: ``logits.transpose(1, 2)`` vs flattened rows;
- SR head on [4, 3, 224, 224] → 448: 3 channels + final ReLU (reference), 3 channels, 64 channels;
- AdamW over the paper model's parameters: for-loop (the reference on CPU), foreach, fused;
- text tower (fusion layer + 6 BERT layers + MLM head + loss) on a batch of template reports with contexts:
  eager attention, every position at 256 tokens → SDPA → loss on masked tokens, logits only there → padded
  to the longest text;
- image side (ViT-B encoder on 49 visible patches + MAE decoder): eager vs SDPA attention.

Alternatives of one part are interleaved rep by rep, so other processes' load hits them alike; the figure
to compare is the ratio within a part (median of ``--reps``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_pipeline import make_reports  # noqa: E402

from ecamp_bench.models.ecamp import SRHead  # noqa: E402
from ecamp_bench.pretrain.config import load_pretrain_config  # noqa: E402
from ecamp_bench.pretrain.loop import build_model  # noqa: E402
from ecamp_bench.pretrain.optim import adamw_implementation, build_optimizer  # noqa: E402
from ecamp_bench.text.distill_rules import RulesBackend  # noqa: E402
from ecamp_bench.text.entities import ENTITY_LEXICON  # noqa: E402
from ecamp_bench.text.loss import mlm_loss  # noqa: E402
from ecamp_bench.text.masking import TextBatcher  # noqa: E402
from ecamp_bench.text.tokenizer import train_wordpiece  # noqa: E402


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def compare(title: str, alternatives: dict, reps: int) -> None:
    """Time each alternative ``reps`` times, interleaved; print medians and ratios to the first."""
    for fn in alternatives.values():  # warm-up
        fn()
    times = {name: [] for name in alternatives}
    for _ in range(reps):
        for name, fn in alternatives.items():
            times[name].append(timed(fn))
    base = statistics.median(next(iter(times.values())))
    print(title)
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<58} {median * 1000:>9.1f} ms   {base / median:>5.2f}x")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", help="pre-training config (configs/pretrain/) or a YAML path")
    parser.add_argument("--preset", dest="config", help=argparse.SUPPRESS)  # former name of --config
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_pretrain_config(args.config)
    b, v, length = args.batch_size, cfg.text.vocab_size, cfg.text.masking.max_length
    print(f"config={args.config} batch={b} threads={torch.get_num_threads()}; alternatives interleaved, medians of "
          f"{args.reps}; absolute times are inflated by other processes' load, compare the ratios")
    torch.manual_seed(0)

    # 1. cross-entropy layout
    reports = make_reports(b, seed=0)
    contexts = RulesBackend().distill(reports)
    tokenizer = train_wordpiece(make_reports(2000, seed=1) + [" ".join(ENTITY_LEXICON)] * 2,
                                vocab_size=cfg.text.vocab_size)  # ids must fit the model's vocabulary
    masking = cfg.text.masking
    full = TextBatcher(tokenizer, dataclasses.replace(masking, mlm_targets="all", padding="max_length"))(
        reports, contexts, torch.Generator().manual_seed(0))
    logits = torch.randn(b, length, v, requires_grad=True)

    def ce(layout):
        return lambda: mlm_loss(logits, full, layout=layout).backward()

    compare("MLM cross-entropy, forward + backward", {"logits.transpose(1, 2) (reference)": ce("reference"),
                                                      "flattened [B·L, V]": ce("flat")}, args.reps)
    del logits

    # 2. SR head
    img = torch.randn(b, 3, cfg.model.img_size, cfg.model.img_size, requires_grad=True)

    def sr(channels, relu):
        head = SRHead(cfg.model.sr_scale, channels, relu)
        return lambda: head(img).square().mean().backward()

    compare("SR head 224 → 448, forward + backward", {"3 channels + final ReLU (reference)": sr(3, True),
                                                        "3 channels (paper config)": sr(3, False),
                                                        "64 channels (the former paper config)": sr(64, False)},
            args.reps)

    # 3. AdamW
    model = build_model(cfg, v)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3 if p.requires_grad else None
    optimizer = build_optimizer(model, cfg.optim)

    def adamw(impl):
        def step():
            for group in optimizer.param_groups:
                group.update(adamw_implementation(impl, model))
            optimizer.step()
        return step

    compare(f"AdamW step over {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters",
            {"for-loop (the reference on CPU)": adamw("for-loop"), "foreach": adamw("foreach"),
             "fused": adamw("fused")}, args.reps)
    optimizer.zero_grad(set_to_none=True)
    del optimizer

    # 4. text tower
    latent = torch.randn(b, 1 + model.num_patches // 4, cfg.model.embed_dim)
    batches = {key: TextBatcher(tokenizer, dataclasses.replace(masking, mlm_targets=t, padding=p))(
        reports, contexts, torch.Generator().manual_seed(0)) for key, (t, p) in
        {"all": ("all", "max_length"), "masked": ("masked", "max_length"), "trimmed": ("masked", "auto")}.items()}

    def text(attention, key, sparse):
        batch = batches[key]

        def run():
            model.set_attention(attention)
            positions = batch.loss_mask.bool() if sparse else None
            lg, _ = model.forward_text(batch.input_ids, batch.attention_mask, latent, positions)
            mlm_loss(lg, batch).backward()
        return run

    width = batches["trimmed"].input_ids.shape[1]
    compare("text tower (fusion + BERT + MLM head + loss), forward + backward", {
        f"eager attention, loss at all {length} positions (reference)": text("eager", "all", False),
        f"SDPA, loss at all {length} positions": text("sdpa", "all", False),
        f"SDPA, loss on masked tokens, logits only there ({length})": text("sdpa", "masked", True),
        f"SDPA, masked, logits only there, padded to longest ({width})": text("sdpa", "trimmed", True)}, args.reps)

    # 5. image side
    imgs = torch.randn(b, 3, cfg.model.img_size, cfg.model.img_size)

    def image(attention):
        def run():
            model.set_attention(attention)
            torch.manual_seed(0)
            lat, mask, ids_restore = model.forward_encoder(imgs, cfg.model.mask_ratio)
            model.forward_loss_mim(imgs, model.forward_decoder(lat, ids_restore), mask).backward()
        return run

    compare("ViT-B encoder (visible patches) + MAE decoder + MIM loss, forward + backward",
            {"eager attention (reference)": image("eager"), "SDPA": image("sdpa")}, args.reps)
    print(f"text: {b} template reports with rule contexts; padded to the longest: {width} tokens of {length}; "
          f"masked positions: {int(batches['masked'].loss_mask.sum())} of {int(full.attention_mask.sum())} tokens")


if __name__ == "__main__":
    main()
