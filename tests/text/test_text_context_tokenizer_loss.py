"""Context insertion (positions, probability), tokenizer training/save/load, and the weighted MLM loss."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from ecamp_bench.errors import DataError
from ecamp_bench.text.context import insert_context, insert_contexts
from ecamp_bench.text.entities import ENTITY_LEXICON, find_entities
from ecamp_bench.text.loss import mlm_loss
from ecamp_bench.text.masking import MaskingConfig, TextBatch, TextBatcher
from ecamp_bench.text.tokenizer import SPECIAL_TOKENS, load_tokenizer, save_tokenizer, train_wordpiece


def test_lexicon_and_whole_word_search():
    assert len(ENTITY_LEXICON) == 44 and len(set(ENTITY_LEXICON)) == 44
    found = find_entities("Masses? No MASS. Effusions, massive effusion; pneumothoraces")
    assert [(m.word, m.start) for m in found] == [("mass", 11), ("effusion", 36)]
    plural = find_entities("Small effusions and masses.", allow_plural=True)
    assert [m.word for m in plural] == ["effusion", "mass"]
    assert find_entities("a nodule", lexicon=("mass",)) == []


def test_insert_context_at_boundary():
    report = "A one. B two. C three."
    assert insert_context(report, "CTX", 0) == "CTX. A one. B two. C three."
    assert insert_context(report, "CTX.", 2) == "A one. B two. CTX. C three."
    assert insert_context(report, "CTX", 3) == "A one. B two. C three. CTX."
    with pytest.raises(ValueError):
        insert_context(report, "CTX", 4)


def test_insert_contexts_probability_and_uniform_boundary():
    n = 8000
    report = "A one. B two. C three."
    texts = insert_contexts([report] * n, ["CTX"] * n, 0.8, torch.Generator().manual_seed(3))
    inserted = [t for t in texts if "CTX" in t]
    assert len(inserted) / n == pytest.approx(0.8, abs=0.015)
    boundary = Counter(t.split(". ").index("CTX") if not t.endswith("CTX.") else 3 for t in inserted)
    assert sorted(boundary) == [0, 1, 2, 3]
    for k in range(4):
        assert boundary[k] / len(inserted) == pytest.approx(0.25, abs=0.025)
    # no context, or an empty one: the report is unchanged
    assert insert_contexts([report, report], [None, "  "], 1.0, torch.Generator()) == [report, report]


def test_train_save_load_round_trip(tmp_path):
    corpus = ["There is a small left pleural effusion. No pneumothorax."] * 20 + ["Heart size is normal."] * 20
    tok = train_wordpiece(corpus, vocab_size=200, min_frequency=1)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    enc = tok.encode("[CLS] Small LEFT effusión.")
    assert enc.tokens[0] == "[CLS]" and enc.ids[0] == 2  # literal [CLS], no post-processor, no [SEP]
    assert enc.tokens[1:] == ["small", "left", "effusion", "."]  # lower-case, accents stripped
    path = save_tokenizer(tok, tmp_path / "run" / "tokenizer.json")
    again = load_tokenizer(path)
    assert again.encode("[CLS] Small LEFT effusión.").ids == enc.ids
    assert again.get_vocab() == tok.get_vocab()


def test_load_tokenizer_errors(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="tokenizer.json"):
        load_tokenizer(bad)
    with pytest.raises(DataError, match="not found"):
        load_tokenizer(tmp_path / "missing.json")
    # a tokenizer whose special tokens are in another order
    from tokenizers import Tokenizer, models

    other = Tokenizer(models.WordPiece({"[UNK]": 0, "[PAD]": 1, "[CLS]": 2, "[MASK]": 3, "[SEP]": 4},
                                       unk_token="[UNK]"))
    other.save(str(bad))
    with pytest.raises(DataError, match=r"\[PAD\] has id 1"):
        load_tokenizer(bad)


def _manual_loss(logits, targets, weights, keep):
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        for i in range(logits.shape[1]):
            if keep[b][i]:
                row = logits[b][i].tolist()
                log_z = math.log(sum(math.exp(v) for v in row))
                total += (log_z - row[targets[b][i]]) * weights[b][i]
                count += 1
    return total / count


@pytest.mark.parametrize("targets_mode", ["all", "masked"])
def test_mlm_loss_matches_manual(targets_mode):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=g)
    targets = torch.randint(0, 7, (2, 5), generator=g)
    weights = torch.rand(2, 5, generator=g) * 2
    masked = torch.tensor([[0, 1, 1, 0, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)
    loss_mask = masked.float() if targets_mode == "masked" else torch.ones(2, 5)
    batch = TextBatch(
        input_ids=targets, target_ids=targets, attention_mask=torch.ones(2, 5, dtype=torch.long), masked=masked,
        weights=weights, loss_mask=loss_mask, entity_mask=masked, context_mask=masked,
    )
    expected = _manual_loss(logits, targets.tolist(), weights.tolist(), loss_mask.bool().tolist())
    assert mlm_loss(logits, batch).item() == pytest.approx(expected, rel=1e-5)


def test_batcher_end_to_end_shapes(vocab_tokenizer):
    batcher = TextBatcher(vocab_tokenizer, MaskingConfig(max_length=16))
    batch = batcher(["small left effusion.", "heart size is normal."], ["copd.", None], torch.Generator())
    assert batch.input_ids.shape == batch.weights.shape == (2, 16)
    assert batch.input_ids.dtype == torch.long and batch.masked.dtype == torch.bool
    assert torch.allclose(batch.weights.sum(1), torch.full((2,), 16.0))
    logits = torch.zeros(2, 16, vocab_tokenizer.get_vocab_size())
    assert mlm_loss(logits, batch).item() == pytest.approx(math.log(vocab_tokenizer.get_vocab_size()), rel=1e-5)


def test_trained_vocabulary_is_numbered_in_sorted_order():
    """HF's trainer numbers tokens in a per-process order; ids are renumbered so they depend only on the set."""
    from ecamp_bench.text.tokenizer import SPECIAL_TOKENS, train_wordpiece

    texts = ["there is a small left pleural effusion . no pneumothorax .", "mild cardiomegaly with edema ."] * 10
    tok = train_wordpiece(texts, vocab_size=200, min_frequency=1)
    by_id = [token for token, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    assert by_id[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert by_id[len(SPECIAL_TOKENS) :] == sorted(by_id[len(SPECIAL_TOKENS) :])
