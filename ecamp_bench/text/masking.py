"""Entity-aware context masking and per-token loss weights for ECAMP's MLM input (docs/method.md, "Text side").

:class:`TextBatcher` turns a batch of reports (and their distilled contexts) into MLM tensors:

1. with probability ``context_prob`` the context is inserted at a uniformly random sentence boundary,
   "[CLS] " is prepended, the text is tokenised and truncated/padded to ``max_length``;
2. tokens are masked entity-aware (``mode="paper"``: entity words p=0.75, the two tokens before each
   entity are context positions and always masked, other words p=0.7, reports without entity p=0.75,
   whole-word masking, so a context position inside a word masks the whole word; ``mode="reference"``:
   what the reference code does, see :class:`MaskingConfig`);
3. negated boiler-plate ("there is no evidence of", else "there is no") gets weight 0.05 and the removed
   mass moves onto the context positions (or onto every position when there are none).

Everything after tokenisation is tensor code over the whole ``[B, L]`` batch: lexicon and phrase matches
are sliding-window comparisons, whole-word propagation is a cumulative max over word starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import torch
from tokenizers import Tokenizer

from ecamp_bench.errors import ConfigError
from ecamp_bench.text.context import insert_contexts
from ecamp_bench.text.entities import ENTITY_LEXICON, REFERENCE_UNMATCHED
from ecamp_bench.text.tokenizer import CLS_ID, CONTINUATION_PREFIX, MASK_ID, PAD_ID, SEP_ID, UNK_ID

BOILERPLATE_PHRASES: tuple[str, ...] = ("there is no evidence of", "there is no")


@dataclass(frozen=True)
class MaskingConfig:
    """Text-side settings; defaults are the ``paper`` pre-training config.

    ``mode="reference"`` reproduces the reference code as it runs (docs/ecamp_method_notes.md lists every
    difference): context positions get the ordinary ``other_mask_prob`` (they are only up-weighted in the
    loss); entity tokens are single vocabulary tokens masked in a second pass with ``entity_mask_prob``, so a
    ``##`` piece after an entity is never masked; "copd", "aerate" and "hyperinflate" never match; the two
    positions before an entity count as context even when they are entities themselves, and the one two back
    counts when the one before is "." (only the "." itself is skipped); the last position of a full-length
    text is never masked nor an entity; boiler-plate phrases are matched on raw token ids (not whole words)
    starting before position L − 4; the context is inserted at the end of the report twice as often as at
    any other boundary. ``boilerplate_phrases`` are matched in order, a later phrase only where it does not
    overlap an earlier one. ``mlm_targets="masked"`` restricts the loss to the masked positions.

    ``padding="auto"`` pads each batch only to its longest text (rounded up to a multiple of 8) when the
    objective allows it (``mlm_targets="masked"``: padding carries no loss); with ``mlm_targets="all"``, or
    ``padding="max_length"``, every batch is ``max_length`` wide. Weights always use L = ``max_length``, so
    the trimmed batch is the fixed-width one minus trailing padding columns.
    """

    mode: str = "paper"
    max_length: int = 256
    context_prob: float = 0.8
    entity_mask_prob: float = 0.75
    other_mask_prob: float = 0.7
    no_entity_mask_prob: float = 0.75
    context_window: int = 2
    boilerplate_weight: float = 0.05
    boilerplate_phrases: tuple[str, ...] = BOILERPLATE_PHRASES
    mlm_targets: str = "all"
    padding: str = "auto"
    lexicon: tuple[str, ...] = field(default=ENTITY_LEXICON)

    def __post_init__(self) -> None:
        if self.mode not in ("paper", "reference"):
            raise ConfigError(f"masking.mode must be 'paper' or 'reference', got {self.mode!r}")
        if self.mlm_targets not in ("all", "masked"):
            raise ConfigError(f"masking.mlm_targets must be 'all' or 'masked', got {self.mlm_targets!r}")
        if self.padding not in ("auto", "max_length"):
            raise ConfigError(f"masking.padding must be 'auto' or 'max_length', got {self.padding!r}")
        if self.max_length < 2 or self.context_window < 0:
            raise ConfigError("masking.max_length must be >= 2 and masking.context_window >= 0")
        for f in fields(self):
            if f.name.endswith("_prob") or f.name == "boilerplate_weight":
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ConfigError(f"masking.{f.name} must be in [0, 1], got {value}")
        object.__setattr__(self, "lexicon", tuple(self.lexicon))
        object.__setattr__(self, "boilerplate_phrases", tuple(self.boilerplate_phrases))


@dataclass
class TextBatch:
    """MLM tensors for one batch, all ``[B, L]`` (L = ``max_length``, or the padded longest text: see
    ``MaskingConfig.padding``)."""

    input_ids: torch.Tensor  # long, masked positions replaced by [MASK]
    target_ids: torch.Tensor  # long, the original ids
    attention_mask: torch.Tensor  # long, 1 on tokens, 0 on padding
    masked: torch.Tensor  # bool
    weights: torch.Tensor  # float, per-token loss weights (each row sums to max_length before trimming)
    loss_mask: torch.Tensor  # float, 1 where the loss counts (all positions, or masked ones only)
    entity_mask: torch.Tensor  # bool, every piece of an entity word
    context_mask: torch.Tensor  # bool, the context positions before entities
    texts: tuple[str, ...] = ()  # the texts that were tokenised (after context insertion)

    def to(self, device: torch.device | str) -> TextBatch:
        """A copy with every tensor moved to ``device``."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return TextBatch(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})


def _shift_left(x: torch.Tensor, j: int, fill: bool | int = False) -> torch.Tensor:
    """``y[:, i] = x[:, i + j]`` with ``fill`` past the end. x: [B, L]."""
    if j == 0:
        return x
    pad = torch.full((x.shape[0], j), fill, dtype=x.dtype)
    return torch.cat([x[:, j:], pad], dim=1)


def _spread(starts: torch.Tensor, length: int) -> torch.Tensor:
    """Cover ``length`` positions from every start. starts: [B, L] bool → [B, L] bool."""
    cover = starts.clone()
    for j in range(1, length):
        cover[:, j:] |= starts[:, :-j]
    return cover


def _window_any(x: torch.Tensor, length: int) -> torch.Tensor:
    """``y[:, i] = any(x[:, i:i + length])``. x: [B, L] bool."""
    out = x.clone()
    for j in range(1, length):
        out |= _shift_left(x, j)
    return out


class _SequenceMatcher:
    """Finds occurrences of fixed token-id sequences in a ``[B, L]`` id tensor, exactly and without a loop
    over the sequences: per sequence length m, each window of m ids is coded as the number whose digit j is
    the rank of ``ids[i + j]`` among the ids at offset j of the sequences (0 for any other id), and the codes
    are looked up with ``torch.isin``."""

    def __init__(self, sequences: Sequence[Sequence[int]], vocab_size: int):
        self.vocab_size = vocab_size
        self.groups: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (m, tables, radix, codes)
        by_length: dict[int, list[list[int]]] = {}
        for seq in sequences:
            if seq:
                by_length.setdefault(len(seq), []).append(list(seq))
        for m, seqs in sorted(by_length.items()):
            self._add_group(m, torch.tensor(seqs, dtype=torch.long))

    def _add_group(self, m: int, seqs: torch.Tensor) -> None:
        """Code the sequences ``seqs [K, m]`` in mixed radix; split the group if the codes could overflow."""
        uniques = [torch.unique(seqs[:, j]) for j in range(m)]
        sizes = [len(u) + 1 for u in uniques]  # digit 0 = "an id no sequence has here"
        if math.prod(sizes) >= 2**62 and len(seqs) > 1:
            half = len(seqs) // 2
            self._add_group(m, seqs[:half])
            self._add_group(m, seqs[half:])
            return
        tables = torch.zeros(m, self.vocab_size + 1, dtype=torch.long)  # [m, V + 1]; column -1: padding
        for j, unique in enumerate(uniques):
            tables[j, unique] = torch.arange(1, len(unique) + 1)
        radix = torch.tensor([math.prod(sizes[:j]) for j in range(m)], dtype=torch.long)  # [m]
        codes = (torch.stack([tables[j, seqs[:, j]] for j in range(m)], dim=1) * radix).sum(1)  # [K]
        self.groups.append((m, tables, radix, codes))

    def starts(self, ids: torch.Tensor) -> dict[int, torch.Tensor]:
        """For each sequence length m: [B, L] bool, True where some sequence of length m starts."""
        out = {}
        length = ids.shape[1]
        for m, tables, radix, codes in self.groups:
            padded = torch.cat([ids, torch.full((ids.shape[0], m - 1), -1, dtype=ids.dtype)], dim=1)  # [B, L+m-1]
            window = sum(tables[j][padded[:, j : j + length]] * radix[j] for j in range(m))  # [B, L]
            hits = torch.isin(window, codes)
            out[m] = out[m] | hits if m in out else hits
        return out


class TextBatcher:
    """Context insertion + tokenisation + entity-aware masking + loss weights for a batch of reports."""

    def __init__(self, tokenizer: Tokenizer, config: MaskingConfig | None = None):
        self.config = config or MaskingConfig()
        self.max_length = self.config.max_length
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(length=self.max_length, pad_id=PAD_ID, pad_token="[PAD]")
        vocab = self.tokenizer.get_vocab()
        self.continuation = torch.zeros(max(vocab.values()) + 1, dtype=torch.bool)  # [V]
        cont_ids = [i for t, i in vocab.items() if t.startswith(CONTINUATION_PREFIX)]
        self.continuation[cont_ids] = True
        self.dot_id = self.tokenizer.token_to_id(".")
        vocab_size = len(self.continuation)
        self.entities = _SequenceMatcher(self._entity_sequences(), vocab_size)
        self.phrases = [
            (len(seq), _SequenceMatcher([seq], vocab_size))
            for seq in (self._word_ids(p) for p in self.config.boilerplate_phrases)
            if seq
        ]

    def _word_ids(self, text: str) -> list[int]:
        """The piece ids of ``text`` encoded alone; empty if any piece is unknown (it could never match)."""
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        ids = [i for i in ids if i != PAD_ID]
        return [] if UNK_ID in ids else ids

    def _entity_sequences(self) -> list[list[int]]:
        if self.config.mode == "paper":
            return [self._word_ids(w) for w in self.config.lexicon]
        single = (self.tokenizer.token_to_id(w) for w in self.config.lexicon if w not in REFERENCE_UNMATCHED)
        return [[i] for i in single if i is not None]

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenise texts (already holding "[CLS] ") to ``ids [B, L]`` and ``attention_mask [B, L]``."""
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        attention = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return ids, attention

    def __call__(
        self, reports: Sequence[str], contexts: Sequence[str | None], generator: torch.Generator
    ) -> TextBatch:
        """Build the MLM batch for ``reports`` (with ``contexts[i]`` or None) using ``generator``."""
        if len(reports) != len(contexts):
            raise ValueError(f"{len(reports)} reports but {len(contexts)} contexts")
        boundaries = "reference" if self.config.mode == "reference" else "uniform"
        texts = insert_contexts(reports, contexts, self.config.context_prob, generator, boundaries=boundaries)
        ids, attention = self.encode(["[CLS] " + t for t in texts])
        return self.mask(ids, attention, generator, texts=tuple(texts))

    def mask(
        self, ids: torch.Tensor, attention: torch.Tensor, generator: torch.Generator, texts: tuple[str, ...] = ()
    ) -> TextBatch:
        """Mask and weight already tokenised ``ids [B, L]`` (the part of ``__call__`` after tokenisation)."""
        cfg = self.config
        maskable = (ids != PAD_ID) & (ids != CLS_ID) & (ids != SEP_ID) & (ids != MASK_ID)  # [B, L]
        if cfg.mode == "reference":  # the reference visits positions 1..L-2 only
            maskable[:, -1] = False
        word_start = ~self.continuation[ids]  # [B, L]
        entity = self._entity_mask(ids, word_start) & maskable
        context = self._context_mask(ids, entity, word_start) & maskable
        if cfg.mode == "paper":
            context &= ~entity
        has_entity = entity.any(dim=1, keepdim=True)  # [B, 1]

        positions = torch.arange(ids.shape[1]).expand_as(ids)  # [B, L]
        start_index = torch.cummax(torch.where(word_start, positions, 0), dim=1).values  # [B, L]
        prob = torch.where(has_entity, cfg.other_mask_prob, cfg.no_entity_mask_prob).expand_as(ids).clone()
        draws = torch.rand(ids.shape, generator=generator)  # [B, L]
        if cfg.mode == "paper":
            prob[entity] = cfg.entity_mask_prob
            prob[self._whole_words(context, word_start)] = 1.0
            masked = torch.gather(draws < prob, 1, start_index)
        else:
            first_pass = (draws < prob) & ~entity
            masked = torch.gather(first_pass, 1, start_index)
            second = torch.rand(ids.shape, generator=generator) < cfg.entity_mask_prob
            masked = torch.where(entity, second, masked)
        masked &= maskable

        weights = self._weights(ids, attention.bool(), context, word_start)
        loss_mask = masked.float() if cfg.mlm_targets == "masked" else torch.ones_like(weights)
        width = self.padded_width(attention)
        if width < ids.shape[1]:  # trailing columns are padding in every row: no loss, no attention
            ids, attention, masked, weights, loss_mask, entity, context = (
                t[:, :width].contiguous() for t in (ids, attention, masked, weights, loss_mask, entity, context))
        return TextBatch(
            input_ids=torch.where(masked, MASK_ID, ids),
            target_ids=ids,
            attention_mask=attention,
            masked=masked,
            weights=weights,
            loss_mask=loss_mask,
            entity_mask=entity,
            context_mask=context,
            texts=texts,
        )

    def padded_width(self, attention: torch.Tensor) -> int:
        """Columns to keep: ``max_length``, or the longest text rounded up to a multiple of 8 (``padding="auto"``
        with ``mlm_targets="masked"``, where padding positions carry no loss). attention: [B, L]."""
        length = attention.shape[1]
        if self.config.padding != "auto" or self.config.mlm_targets != "masked":
            return length
        longest = int(attention.sum(dim=1).max()) if attention.numel() else 0
        return min(length, max(8, -(-longest // 8) * 8))

    def _entity_mask(self, ids: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
        """Every piece of an entity word (paper) or every entity vocabulary token (reference). [B, L] bool."""
        entity = torch.zeros_like(ids, dtype=torch.bool)
        for m, starts in self.entities.starts(ids).items():
            if self.config.mode == "paper":  # whole words: start at a word start, next piece starts a word
                starts = starts & word_start & _shift_left(word_start, m, fill=True)
            entity |= _spread(starts, m)
        return entity

    def _context_mask(self, ids: torch.Tensor, entity: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
        """The ``context_window`` positions before each entity (word). [B, L] bool.

        ``paper``: not crossing a "." token (a "." ends the window). ``reference``: every one of the positions
        that is not itself a "." (so the token two back counts when the one before is ".").
        """
        entity_start = entity & word_start if self.config.mode == "paper" else entity
        not_dot = ids != self.dot_id if self.dot_id is not None else torch.ones_like(entity)
        context = torch.zeros_like(entity)
        clear = torch.ones_like(entity)  # [B, L]: positions p..p+j-1 hold no "."
        for j in range(1, self.config.context_window + 1):
            clear = clear & _shift_left(not_dot, j - 1, fill=True) if self.config.mode == "paper" else not_dot
            context |= _shift_left(entity_start, j) & clear
        return context

    def _whole_words(self, flags: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
        """Extend ``flags [B, L]`` to every piece of each word holding a flagged piece."""
        b, length = flags.shape
        word_index = torch.cumsum(word_start.long(), dim=1) - 1 + torch.arange(b)[:, None] * length  # [B, L]
        flagged_words = torch.zeros(b * length, dtype=torch.bool)
        flagged_words[word_index[flags]] = True
        return flagged_words[word_index]

    def _weights(
        self, ids: torch.Tensor, valid: torch.Tensor, context: torch.Tensor, word_start: torch.Tensor
    ) -> torch.Tensor:
        """Per-token loss weights of §2 (phrases matched as whole words); every row sums to L. [B, L] float32."""
        cfg = self.config
        length = ids.shape[1]
        down = torch.zeros_like(valid)
        for m, matcher in self.phrases:
            starts = matcher.starts(ids)[m]
            if cfg.mode == "paper":  # whole words
                starts &= word_start & _shift_left(word_start, m, fill=True)
            else:  # raw ids; the reference's scan stops before position L - 4
                starts[:, max(length - 4, 0) :] = False
            starts &= ~_window_any(down, m)
            down |= _spread(starts, m)
        down &= valid
        n_down = down.sum(1, keepdim=True).double()  # D [B, 1]
        n_ctx = context.sum(1, keepdim=True).double()  # M
        n_both = (context & down).sum(1, keepdim=True).double()  # d
        removed = 1.0 - cfg.boilerplate_weight
        weights = torch.where(down, cfg.boilerplate_weight, 1.0).double()  # [B, L]
        with_ctx = (n_ctx > 0) & (n_down > 0)
        factor = (removed * (n_down - n_both) + n_ctx) / (n_ctx - removed * n_both).clamp_min(1e-12)
        weights = torch.where(with_ctx & context, weights * factor, weights)
        rescale = torch.where(~with_ctx & (n_down > 0), length / (length - removed * n_down), 1.0)
        return (weights * rescale).float()
