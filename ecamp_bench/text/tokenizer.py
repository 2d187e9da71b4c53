"""The WordPiece tokenizer of ECAMP, trained on report text with HF ``tokenizers``.

Configuration follows the reference (docs/method.md, "Text side"): WordPiece with the ``##`` continuation prefix,
normaliser lowercase → NFKD → strip accents, pre-tokeniser whitespace + digits, no post-processor (the
text "[CLS] " is prepended literally by the batcher, no [SEP]) and the special ids
[PAD]=0, [UNK]=1, [CLS]=2, [MASK]=3, [SEP]=4.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

from ecamp_bench.errors import DataError

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")
PAD_ID, UNK_ID, CLS_ID, MASK_ID, SEP_ID = range(5)
CONTINUATION_PREFIX = "##"


def _empty_wordpiece(vocab: dict[str, int] | None = None) -> Tokenizer:
    model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=CONTINUATION_PREFIX)
    tok = Tokenizer(model)
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.NFKD(), normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits()])
    tok.decoder = decoders.WordPiece(prefix=CONTINUATION_PREFIX)
    return tok


def count_words(texts: Iterable[str], tok: Tokenizer | None = None) -> Counter[str]:
    """How often each pre-token occurs in ``texts`` after the reference normaliser and pre-tokeniser."""
    tok = tok or _empty_wordpiece()
    counts: Counter[str] = Counter()
    for text in texts:
        normalized = tok.normalizer.normalize_str(text)
        counts.update(word for word, _ in tok.pre_tokenizer.pre_tokenize_str(normalized))
    return counts


def learn_wordpiece_vocab(word_counts: Mapping[str, int], vocab_size: int, min_frequency: int) -> list[str]:
    """The WordPiece vocabulary of a corpus, as the HF WordPiece trainer learns it but with every tie broken
    by the token strings, so it is a function of ``word_counts`` alone.

    The HF trainer (BPE merges, then WordPiece) numbers symbols in hash-map order and breaks equal pair counts
    by those numbers, so two processes learn different vocabularies from one corpus (454 vs 456 tokens measured).
    Here, as there: the vocabulary starts with the special tokens, every character, and ``##c`` for every
    character seen inside a word; then the most frequent adjacent pair of symbols (counted over word
    occurrences) is merged, ``a`` + ``##b`` → ``ab``, until ``vocab_size`` tokens or no pair occurs
    ``min_frequency`` times. Equal counts go to the lexicographically smallest pair ``(a, b)``.

    Returns the tokens in the order learnt (specials, alphabet sorted, then merges).
    """
    vocab: dict[str, None] = dict.fromkeys(SPECIAL_TOKENS)
    words = sorted(word_counts.items())
    vocab.update(dict.fromkeys(sorted({char for word, _ in words for char in word})))
    symbols = [[word[0]] + [CONTINUATION_PREFIX + c for c in word[1:]] for word, _ in words]
    vocab.update(dict.fromkeys(sorted({s for parts in symbols for s in parts[1:]})))
    counts = [count for _, count in words]
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for index, parts in enumerate(symbols):
        for pair in zip(parts, parts[1:]):
            pair_counts[pair] += counts[index]
            where.setdefault(pair, set()).add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # stale heap entry: the count changed since it was pushed
        if -negative < max(min_frequency, 1):
            break
        first, second = pair
        merged = first + second[len(CONTINUATION_PREFIX):]
        vocab[merged] = None
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair, ())):
            parts, count = symbols[index], counts[index]
            for old in zip(parts, parts[1:]):
                pair_counts[old] -= count
                changed.add(old)
            out, position = [], 0
            while position < len(parts):
                if position + 1 < len(parts) and (parts[position], parts[position + 1]) == pair:
                    out.append(merged)
                    position += 2
                else:
                    out.append(parts[position])
                    position += 1
            symbols[index] = out
            for new in zip(out, out[1:]):
                pair_counts[new] += count
                where.setdefault(new, set()).add(index)
                changed.add(new)
        for other in changed:
            if pair_counts[other] > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
            else:
                pair_counts.pop(other)
                where.pop(other, None)
    return list(vocab)


def train_wordpiece(texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2) -> Tokenizer:
    """Train a WordPiece tokenizer on ``texts`` (report strings) with the reference configuration.

    Deterministic: the vocabulary is :func:`learn_wordpiece_vocab` of the corpus's word counts (no dependence on
    hash seeds or process), numbered in sorted order after the special tokens.
    """
    tok = _empty_wordpiece()
    tokens = learn_wordpiece_vocab(count_words(texts, tok), vocab_size, min_frequency)
    return tokenizer_from_vocab(sorted(tokens))


def tokenizer_from_vocab(tokens: Sequence[str]) -> Tokenizer:
    """A tokenizer with the reference configuration over a given vocabulary (e.g. the lines of a BERT
    ``vocab.txt``); the special tokens are put first (ids 0..4) if the list does not start with them."""
    ordered = list(SPECIAL_TOKENS) + [t for t in tokens if t not in SPECIAL_TOKENS]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(ordered))}
    tok = _empty_wordpiece(vocab)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    check_special_ids(tok)
    return tok


def check_special_ids(tok: Tokenizer, path: object | None = None) -> None:
    """Raise :class:`DataError` unless the special tokens have the ids 0..4 in ``SPECIAL_TOKENS`` order."""
    for expected, token in enumerate(SPECIAL_TOKENS):
        found = tok.token_to_id(token)
        if found != expected:
            raise DataError(
                f"tokenizer special token {token} has id {found}, expected {expected} "
                f"(special ids must be {', '.join(f'{t}={i}' for i, t in enumerate(SPECIAL_TOKENS))})",
                path=path,
                key=token,
            )


def save_tokenizer(tok: Tokenizer, path: str | os.PathLike[str]) -> Path:
    """Write ``tok`` as ``tokenizer.json`` at ``path`` atomically (temp file + rename); returns the path."""
    from ecamp_bench.atomic import atomic_write_text

    return atomic_write_text(Path(path), tok.to_str(pretty=True))


def load_tokenizer(path: str | os.PathLike[str]) -> Tokenizer:
    """Read a ``tokenizer.json``; :class:`DataError` naming the file if unreadable or the special ids differ."""
    path = Path(path)
    if not path.is_file():
        raise DataError("tokenizer file not found", path=path)
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on malformed JSON
        raise DataError(f"not a readable tokenizers JSON file ({exc})", path=path) from exc
    check_special_ids(tok, path)
    return tok
