"""``masking: reference`` against hand-worked examples of the reference's rules (docs/ecamp_method_notes.md)."""

from __future__ import annotations

import pytest
import torch

from ecamp_bench.text.context import insert_contexts, reference_boundary
from ecamp_bench.text.masking import MaskingConfig, TextBatcher
from ecamp_bench.text.tokenizer import tokenizer_from_vocab


EXAMPLE = "heart size is normal. pneumothorax is absent. there is no effusion."


@pytest.fixture(scope="module")
def tokenizer(vocab_tokenizer):
    """The text tests' vocabulary plus three words: every word of the examples is one token ("nos" is
    "no" + "##s")."""
    vocab = sorted(vocab_tokenizer.get_vocab().items(), key=lambda item: item[1])
    return tokenizer_from_vocab([token for token, _ in vocab] + ["absent", "cardiomediastinal", "silhouette"])


def _batch(tokenizer, mode, texts, length=32, seed=7, **overrides):
    batcher = TextBatcher(tokenizer, MaskingConfig(mode=mode, max_length=length, context_prob=0.0, **overrides))
    return batcher, batcher(texts, [None] * len(texts), torch.Generator().manual_seed(seed))


def _tokens(batcher, batch, row=0):
    return [batcher.tokenizer.id_to_token(i) for i in batch.target_ids[row].tolist()]


def test_issue_example_weights_in_both_modes(tokenizer):
    # [CLS] heart size is normal . pneumothorax is absent . there is no effusion .
    #   0     1    2   3    4    5      6       7    8    9   10   11 12    13    14
    # Boiler-plate "there is no" = 10, 11, 12 (D = 3). Entities: pneumothorax (6), effusion (13).
    # reference: context of 6 = {4} (5 is "." and is skipped, 4 still counts); of 13 = {12, 11}: M = 3, d = 2,
    #   e = (0.95·(3 − 2) + 3) / (3 − 0.95·2) = 3.95 / 1.1 = 3.5909: "normal" 3.59, "is"/"no" 0.05·e = 0.1795.
    # paper: the "." ends the window before pneumothorax: context = {11, 12}: M = 2, d = 2,
    #   e = (0.95 + 2) / (2 − 1.9) = 29.5: "is"/"no" 0.05·29.5 = 1.475, "normal" 1.
    batcher, batch = _batch(tokenizer, "reference", [EXAMPLE])
    assert _tokens(batcher, batch)[:15] == ("[CLS] heart size is normal . pneumothorax is absent . there is no "
                                            "effusion .").split()
    assert batch.context_mask[0].nonzero().flatten().tolist() == [4, 11, 12]
    e = 3.95 / 1.1
    expected = torch.ones(32, dtype=torch.float64)
    expected[4] = e
    expected[10] = 0.05
    expected[11:13] = 0.05 * e
    w = batch.weights[0].double()
    assert torch.allclose(w, expected, atol=1e-5)
    assert round(w[4].item(), 2) == 3.59 and round(w[11].item(), 2) == round(w[12].item(), 2) == 0.18
    assert w.sum().item() == pytest.approx(32, abs=1e-4)

    _, paper = _batch(tokenizer, "paper", [EXAMPLE])
    assert paper.context_mask[0].nonzero().flatten().tolist() == [11, 12]
    wp = paper.weights[0].double()
    assert wp[4].item() == pytest.approx(1.0) and wp[11].item() == pytest.approx(1.475, abs=1e-5)


def test_reference_counts_an_entity_before_an_entity_as_context(tokenizer):
    # [CLS] the cardiomediastinal silhouette is normal .
    # reference: silhouette (3) → {2, 1}; cardiomediastinal (2) → {1} (position 0 is never one): {1, 2}.
    # paper: a context position is never an entity itself: {1}.
    text = "the cardiomediastinal silhouette is normal."
    _, ref = _batch(tokenizer, "reference", [text])
    _, paper = _batch(tokenizer, "paper", [text])
    assert ref.entity_mask[0].nonzero().flatten().tolist() == [2, 3]
    assert ref.context_mask[0].nonzero().flatten().tolist() == [1, 2]
    assert paper.context_mask[0].nonzero().flatten().tolist() == [1]


def test_reference_never_masks_the_last_position_of_a_full_length_text(tokenizer):
    # 8 tokens exactly fill max_length 8: position 7 ("normal") is outside the reference's scan.
    texts = ["heart size is normal heart size is normal"] * 400
    _, ref = _batch(tokenizer, "reference", texts, length=8)
    assert ref.attention_mask.all()
    assert not ref.masked[:, 7].any() and ref.masked[:, 1:7].float().mean().item() == pytest.approx(0.75, abs=0.04)
    _, paper = _batch(tokenizer, "paper", texts, length=8)
    assert paper.masked[:, 7].float().mean().item() == pytest.approx(0.75, abs=0.07)
    # an entity in the last position is not an entity there (no context positions, the no-entity rate applies)
    _, ref = _batch(tokenizer, "reference", ["heart size is small left effusion"] * 400, length=6)
    assert not ref.entity_mask.any() and not ref.context_mask.any()
    assert ref.masked[:, 1:5].float().mean().item() == pytest.approx(0.75, abs=0.04)


def test_reference_matches_boilerplate_on_raw_ids_before_position_L_minus_4(tokenizer):
    # "nos" = "no ##s": not the whole word "no" (paper skips it), but the reference compares raw ids.
    batcher, ref = _batch(tokenizer, "reference", ["there is nos effusion."], length=16)
    assert _tokens(batcher, ref)[1:5] == ["there", "is", "no", "##s"]
    assert ref.weights[0, 1:4].lt(0.5).all()
    _, paper = _batch(tokenizer, "paper", ["there is nos effusion."], length=16)
    assert paper.weights[0].eq(1.0).all()
    # a phrase starting at L − 4 = 4 is past the reference's scan, not the paper's
    text = "heart size is there is no ."
    _, ref = _batch(tokenizer, "reference", [text], length=8)
    _, paper = _batch(tokenizer, "paper", [text], length=8)
    assert ref.weights[0].eq(1.0).all() and paper.weights[0, 4:7].lt(0.5).all()


def test_reference_boundary_puts_the_context_at_the_end_twice_as_often():
    # "a. b. c." splits into 4 pieces ("a", " b", " c", ""): k in 0..4, k = 3 and k = 4 both mean "at the end"
    report = "a. b. c."
    assert [reference_boundary(report, u) for u in (0.1, 0.3, 0.5, 0.7, 0.9)] == [0, 1, 2, 3, 3]
    assert [reference_boundary("a. b. c", u) for u in (0.1, 0.3, 0.6, 0.9)] == [0, 1, 2, 3]  # no final "."
    texts = insert_contexts([report] * 5000, ["x"] * 5000, 1.0, torch.Generator().manual_seed(0),
                            boundaries="reference")
    at_end = sum(t.endswith("x.") for t in texts) / 5000
    at_start = sum(t.startswith("x.") for t in texts) / 5000
    assert at_end == pytest.approx(2 / 5, abs=0.025) and at_start == pytest.approx(1 / 5, abs=0.025)
