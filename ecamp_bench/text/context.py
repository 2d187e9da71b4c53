"""Insertion of the entity-centred context into a report at a random sentence boundary (docs/method.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch


def split_sentences(report: str) -> list[str]:
    """The report's sentences, split on ".", stripped, empty ones dropped, each ending with "."."""
    return [s.strip() + "." for s in report.split(".") if s.strip()]


def insert_context(report: str, context: str, k: int) -> str:
    """``report`` with ``context`` placed between sentence ``k - 1`` and sentence ``k`` (0 ≤ k ≤ n).

    The context is closed with "." if it does not end with one, so it stays its own sentence.
    """
    sentences = split_sentences(report)
    if not 0 <= k <= len(sentences):
        raise ValueError(f"boundary {k} outside 0..{len(sentences)}")
    context = context.strip()
    if context and not context.endswith("."):
        context += "."
    return " ".join([*sentences[:k], context, *sentences[k:]]).strip()


def reference_boundary(report: str, u: float) -> int:
    """The boundary (0..n sentences) the reference picks for a uniform draw ``u`` in [0, 1): it draws
    k in 0..len(report.split(".")) and inserts after the first k pieces, so the empty piece after a final
    "." makes the end boundary twice as likely as any other."""
    pieces = report.split(".")
    k = min(int(u * (len(pieces) + 1)), len(pieces))
    return sum(1 for piece in pieces[:k] if piece.strip())


def insert_contexts(
    reports: Sequence[str], contexts: Sequence[str | None], prob: float, generator: torch.Generator,
    boundaries: Literal["uniform", "reference"] = "uniform",
) -> list[str]:
    """For each report: with probability ``prob`` (and a non-empty context) insert the context at a boundary
    drawn uniformly from 0..n (n sentences; ``boundaries="reference"``: as the reference draws it, see
    :func:`reference_boundary`); otherwise the report unchanged. Draws come from ``generator``."""
    use = torch.rand(len(reports), generator=generator) < prob  # [B]
    where = torch.rand(len(reports), generator=generator)  # [B], scaled to 0..n below
    out = []
    for report, context, use_i, u in zip(reports, contexts, use.tolist(), where.tolist(), strict=True):
        report = report or ""
        if use_i and context and context.strip():
            n = len(split_sentences(report))
            k = reference_boundary(report, u) if boundaries == "reference" else min(int(u * (n + 1)), n)
            out.append(insert_context(report, context, k))
        else:
            out.append(report)
    return out
