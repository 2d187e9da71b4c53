"""Throughput of the ECAMP text pipeline: context insertion + tokenisation + entity-aware masking (reports/s).

Reports are generated from templates (MIMIC-like length and wording), a WordPiece tokenizer is trained on
them, and contexts come from the ``rules`` backend (its own throughput is printed too). Then batches are
streamed through :class:`~ecamp_bench.text.masking.TextBatcher` and timed.

    .venv/bin/python benchmarks/text_pipeline.py --batch-size 256 --batches 20 --mode paper
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ecamp_bench.text.distill_rules import RulesBackend
from ecamp_bench.text.entities import ENTITY_LEXICON
from ecamp_bench.text.masking import MaskingConfig, TextBatcher
from ecamp_bench.text.tokenizer import train_wordpiece

_FINDINGS = [
    "{sev} {side} pleural effusion",
    "{sev} consolidation in the {side} {zone} lobe",
    "{side} basilar atelectasis",
    "{sev} pulmonary edema",
    "{sev} {side} apical pneumothorax",
    "a {sev} nodule in the {side} {zone} lobe",
    "{sev} cardiomegaly",
    "a {side} subclavian catheter terminating in the mid svc",
]
_NORMAL = [
    "The cardiomediastinal silhouette is within normal limits.",
    "There is no pneumothorax.",
    "There is no evidence of pleural effusion.",
    "The lungs are clear without focal consolidation.",
    "No acute osseous abnormality is seen.",
    "Heart size is normal.",
    "Pulmonary vasculature is not engorged.",
    "The hila are unremarkable.",
]


def make_reports(n: int, seed: int = 0) -> list[str]:
    """``n`` template reports of 4-9 sentences with random findings."""
    rng = np.random.default_rng(seed)
    reports = []
    for _ in range(n):
        sentences = list(rng.choice(_NORMAL, size=rng.integers(3, 7), replace=False))
        for finding in rng.choice(_FINDINGS, size=rng.integers(0, 4), replace=False):
            text = finding.format(
                sev=rng.choice(["small", "mild", "moderate", "large"]),
                side=rng.choice(["left", "right", "bilateral"]),
                zone=rng.choice(["upper", "middle", "lower"]),
            )
            prefix = rng.choice(["There is ", "Possible ", "No change in ", ""])
            sentences.insert(int(rng.integers(0, len(sentences) + 1)), f"{prefix}{text}.".capitalize())
        reports.append(" ".join(sentences))
    return reports


def main() -> None:
    """Parse arguments, run the benchmark, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--mode", choices=["paper", "reference"], default="paper")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    n = args.batch_size * args.batches
    reports = make_reports(n)
    start = time.perf_counter()
    contexts = RulesBackend().distill(reports)
    rules_rate = n / (time.perf_counter() - start)
    # In MIMIC every lexicon word is frequent enough to be a vocabulary word; the template corpus is not.
    tokenizer = train_wordpiece(reports + contexts + [" ".join(ENTITY_LEXICON)] * 2, vocab_size=30000)
    batcher = TextBatcher(tokenizer, MaskingConfig(mode=args.mode, max_length=args.max_length))
    generator = torch.Generator().manual_seed(0)

    batcher(reports[: args.batch_size], contexts[: args.batch_size], generator)  # warm-up
    start = time.perf_counter()
    masked = tokens = 0
    for i in range(0, n, args.batch_size):
        batch = batcher(reports[i : i + args.batch_size], contexts[i : i + args.batch_size], generator)
        masked += int(batch.masked.sum())
        tokens += int(batch.attention_mask.sum())
    elapsed = time.perf_counter() - start
    print(f"reports: {n}, batch {args.batch_size}, max_length {args.max_length}, mode {args.mode}, "
          f"vocab {tokenizer.get_vocab_size()}, torch threads {args.threads}")
    print(f"text pipeline (insertion + tokenisation + masking): {n / elapsed:,.0f} reports/s")
    print(f"rules context distillation: {rules_rate:,.0f} reports/s")
    print(f"lexicon words that are one token: {sum(len(tokenizer.encode(w).ids) == 1 for w in ENTITY_LEXICON)}/44")
    print(f"mean tokens/report {tokens / n:.1f}, masked fraction of tokens {masked / tokens:.3f}")


if __name__ == "__main__":
    main()
