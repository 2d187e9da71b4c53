"""Fixtures of the text tests: a tokenizer over a hand-written vocabulary, so every piece is known."""

from __future__ import annotations

import pytest

from ecamp_bench.text.tokenizer import tokenizer_from_vocab

# "atelectasis" is three pieces (a multi-piece entity); "lungs" and "effusions" end in a ## piece;
# "copd" is a whole vocabulary word.
VOCAB = (
    "heart size is normal . small left right effusion pneumothorax lung ##s are clear mild atel ##ect ##asis "
    "there no evidence of change copd the and a ,"
).split()


@pytest.fixture(scope="session")
def vocab_tokenizer():
    """WordPiece tokenizer over :data:`VOCAB` with the reference configuration."""
    return tokenizer_from_vocab(VOCAB)
