"""The WordPiece vocabulary is a function of the corpus alone: same in every process, whatever the hash seed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from ecamp_bench.text.tokenizer import SPECIAL_TOKENS, count_words, learn_wordpiece_vocab, train_wordpiece

_SCRIPT = """
import hashlib, random
from ecamp_bench.text.tokenizer import train_wordpiece
rng = random.Random(0)
letters = "abcdefghij"
texts = [" ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(12))
         for _ in range(300)]
tok = train_wordpiece(texts, vocab_size=400, min_frequency=2)
print(hashlib.sha256(tok.to_str().encode()).hexdigest(), tok.get_vocab_size())
"""


def test_ties_go_to_the_smallest_pair():
    vocab = learn_wordpiece_vocab({"ab": 2, "ba": 2}, vocab_size=100, min_frequency=1)
    assert vocab == [*SPECIAL_TOKENS, "a", "b", "##a", "##b", "ab", "ba"]
    assert learn_wordpiece_vocab({"ab": 2, "ba": 2}, vocab_size=10, min_frequency=1)[-1] == "ab"  # size limit
    assert learn_wordpiece_vocab({"ab": 1, "ba": 2}, vocab_size=100, min_frequency=2)[-1] == "ba"  # min frequency


def test_merges_follow_pair_frequency_over_word_occurrences():
    counts = count_words(["The the THE thé", "then"])
    assert counts == {"the": 4, "then": 1}
    vocab = learn_wordpiece_vocab(counts, vocab_size=100, min_frequency=1)
    assert vocab[-3:] == ["##he", "the", "then"]
    assert train_wordpiece(["the the then"], 100, 1).encode("then the").tokens == ["then", "the"]


def test_vocabulary_is_identical_across_fresh_processes():
    outputs = set()
    for hash_seed in ("0", "1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout.strip())
    assert len(outputs) == 1, outputs
    digest, size = outputs.pop().split()
    assert int(size) == 400
    assert digest != hashlib.sha256(b"").hexdigest()
