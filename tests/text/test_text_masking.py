"""Masking rates (statistically), whole-word masking, and the exact loss-weight formula."""

from __future__ import annotations

import pytest
import torch

from ecamp_bench.errors import ConfigError
from ecamp_bench.text.masking import MaskingConfig, TextBatcher
from ecamp_bench.text.tokenizer import CLS_ID, MASK_ID, PAD_ID

N = 3000  # samples per rate estimate: std of a 0.7 rate ≈ 0.008
TOL = 0.035

REPORT = "heart size is normal. small left effusion. lungs are clear. mild atelectasis. copd and effusions."


def _batch(tokenizer, mode, reports, length=40, **overrides):
    cfg = MaskingConfig(mode=mode, max_length=length, context_prob=0.0, **overrides)
    batcher = TextBatcher(tokenizer, cfg)
    return batcher, batcher(reports, [None] * len(reports), torch.Generator().manual_seed(7))


def _positions(batcher, batch):
    """token string → list of positions in row 0."""
    tokens = [batcher.tokenizer.id_to_token(i) for i in batch.target_ids[0].tolist()]
    out: dict[str, list[int]] = {}
    for i, t in enumerate(tokens):
        out.setdefault(t, []).append(i)
    return tokens, out


def test_paper_rates(vocab_tokenizer):
    batcher, batch = _batch(vocab_tokenizer, "paper", [REPORT] * N)
    tokens, pos = _positions(batcher, batch)
    rate = batch.masked.float().mean(0)  # [L]
    # entities: effusion, the three pieces of atelectasis, copd
    entity_pos = [pos["effusion"][0], pos["atel"][0], pos["copd"][0]]
    assert batch.entity_mask[0].nonzero().flatten().tolist() == sorted(
        [pos["effusion"][0], *pos["atel"], *pos["##ect"], *pos["##asis"], pos["copd"][0]]
    )
    for p in entity_pos:
        assert rate[p].item() == pytest.approx(0.75, abs=TOL)
    # context positions: "small left" before effusion; only "mild" before atelectasis (never across ".");
    # the "." before copd is not a context position.
    context = [pos["small"][0], pos["left"][0], pos["mild"][0]]
    assert sorted(batch.context_mask[0].nonzero().flatten().tolist()) == sorted(context)
    assert rate[context].eq(1.0).all()
    # every other ordinary word start: 0.7 (pooled)
    special = {"[CLS]", "[PAD]"}
    others = [
        i
        for i, t in enumerate(tokens)
        if t not in special and not t.startswith("##") and i not in entity_pos and i not in context
    ]
    assert rate[others].mean().item() == pytest.approx(0.7, abs=0.015)
    # never [CLS] or padding; masked inputs are [MASK], targets untouched
    assert not batch.masked[:, 0].any() and not batch.masked[batch.target_ids == PAD_ID].any()
    assert (batch.input_ids[batch.masked] == MASK_ID).all()
    assert (batch.input_ids[~batch.masked] == batch.target_ids[~batch.masked]).all()
    assert (batch.target_ids[:, 0] == CLS_ID).all()


def test_whole_word_masking_paper(vocab_tokenizer):
    batcher, batch = _batch(vocab_tokenizer, "paper", [REPORT] * 500)
    tokens, pos = _positions(batcher, batch)
    for i, t in enumerate(tokens):
        if t.startswith("##"):
            assert torch.equal(batch.masked[:, i], batch.masked[:, i - 1]), t


def test_no_entity_rate(vocab_tokenizer):
    batcher, batch = _batch(vocab_tokenizer, "paper", ["heart size is normal. the lungs are clear."] * N)
    assert not batch.entity_mask.any() and not batch.context_mask.any()
    word_starts = [i for i, t in enumerate(_positions(batcher, batch)[0]) if t not in ("[CLS]", "[PAD]", "##s")]
    assert batch.masked[:, word_starts].float().mean().item() == pytest.approx(0.75, abs=0.015)


def test_reference_rates(vocab_tokenizer):
    batcher, batch = _batch(vocab_tokenizer, "reference", [REPORT] * N)
    tokens, pos = _positions(batcher, batch)
    rate = batch.masked.float().mean(0)
    eff, eff_plural = pos["effusion"]
    # entities are single vocabulary tokens (also the first piece of "effusions"); copd and multi-piece
    # atelectasis never match
    assert batch.entity_mask[0].nonzero().flatten().tolist() == [eff, eff_plural]
    assert rate[[eff, eff_plural]].mean().item() == pytest.approx(0.75, abs=TOL)
    # context positions are found (for the weights) but masked at the ordinary rate
    context = [pos["small"][0], pos["left"][0], pos["copd"][0], pos["and"][0]]
    assert sorted(batch.context_mask[0].nonzero().flatten().tolist()) == context
    assert rate[context].mean().item() == pytest.approx(0.7, abs=0.02)
    # the ## piece after a masked entity stays visible
    assert not batch.masked[:, eff_plural + 1].any()
    assert batcher.tokenizer.id_to_token(batch.target_ids[0, eff_plural + 1].item()) == "##s"


def _weights_of(tokenizer, text, length=32):
    batcher, batch = _batch(tokenizer, "paper", [text], length=length)
    tokens = [batcher.tokenizer.id_to_token(i) for i in batch.target_ids[0].tolist()]
    return tokens, batch.weights[0].double(), batch


def test_weights_with_context_positions(vocab_tokenizer):
    # D = 5 ("there is no evidence of"), M = 4 ("evidence of", "small left"), d = 2
    tokens, w, batch = _weights_of(vocab_tokenizer, "there is no evidence of effusion. small left pneumothorax.")
    e = (0.95 * (5 - 2) + 4) / (4 - 0.95 * 2)
    assert e == pytest.approx(3.2619, abs=1e-4)
    expected = torch.ones(32, dtype=torch.float64)
    expected[1:6] = 0.05  # there is no evidence of
    expected[4:6] *= e  # evidence of: down-weighted context positions
    expected[tokens.index("small")] = e
    expected[tokens.index("left")] = e
    assert torch.allclose(w, expected, atol=1e-5)
    assert w.sum().item() == pytest.approx(32, abs=1e-4)


def test_weights_without_context_positions(vocab_tokenizer):
    # "there is no" (D = 3, M = 0): every weight × L / (L − 0.95·D)
    tokens, w, _ = _weights_of(vocab_tokenizer, "there is no change. heart size is normal.")
    factor = 32 / (32 - 0.95 * 3)
    expected = torch.full((32,), factor, dtype=torch.float64)
    expected[1:4] = 0.05 * factor
    assert torch.allclose(w, expected, atol=1e-5)
    assert w.sum().item() == pytest.approx(32, abs=1e-4)


def test_weights_phrase_priority_and_no_phrase(vocab_tokenizer):
    _, w, _ = _weights_of(vocab_tokenizer, "there is no evidence of change. there is no change.")
    assert int((w < 0.5).sum()) == 8  # 5 + 3, the long phrase not counted twice
    _, w, _ = _weights_of(vocab_tokenizer, "small left effusion. heart size is normal.")
    assert torch.equal(w, torch.ones(32))


def test_mlm_targets_masked_loss_mask(vocab_tokenizer):
    _, batch = _batch(vocab_tokenizer, "paper", [REPORT] * 4, mlm_targets="masked")
    assert torch.equal(batch.loss_mask.bool(), batch.masked)
    _, batch = _batch(vocab_tokenizer, "paper", [REPORT] * 4)
    assert batch.loss_mask.eq(1).all()


def test_batch_is_deterministic_given_generator(vocab_tokenizer):
    _, a = _batch(vocab_tokenizer, "paper", [REPORT] * 8)
    _, b = _batch(vocab_tokenizer, "paper", [REPORT] * 8)
    assert torch.equal(a.input_ids, b.input_ids) and a.input_ids.shape == (8, 40)


def test_config_validation():
    with pytest.raises(ConfigError, match="mode"):
        MaskingConfig(mode="bert")
    with pytest.raises(ConfigError, match="other_mask_prob"):
        MaskingConfig(other_mask_prob=1.5)
