"""The WordPiece tokenizer of ECAMP, trained on report text with HF ``tokenizers``.

Configuration follows the reference (ECAMP_METHOD.md §2): WordPiece with the ``##`` continuation prefix,
normaliser lowercase → NFKD → strip accents, pre-tokeniser whitespace + digits, no post-processor (the
text "[CLS] " is prepended literally by the batcher, no [SEP]) and the special ids
[PAD]=0, [UNK]=1, [CLS]=2, [MASK]=3, [SEP]=4.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

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


def train_wordpiece(texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2) -> Tokenizer:
    """Train a WordPiece tokenizer on ``texts`` (report strings) with the reference configuration.

    The trainer numbers tokens in an order that varies between processes (hash-map iteration), so the
    learnt vocabulary is renumbered in sorted order: the same corpus always gives the same token ids.
    """
    tok = _empty_wordpiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix=CONTINUATION_PREFIX,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tokenizer_from_vocab(sorted(tok.get_vocab()))


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
