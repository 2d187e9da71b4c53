"""Learning-rate schedule, weight-decay groups, atomic checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecamp_bench.pretrain import checkpointing as ckpt
from ecamp_bench.pretrain.config import OptimConfig
from ecamp_bench.pretrain.optim import build_optimizer, build_scheduler, lr_at, param_groups


def test_paper_schedule_warms_up_linearly_and_ends_at_half_the_peak():
    cfg = OptimConfig()  # lr 1.5e-4, warm-up 40, cosine horizon 200, stop at 120
    assert lr_at(0, cfg) == 0.0
    assert lr_at(20, cfg) == pytest.approx(0.75e-4)
    assert lr_at(40, cfg) == pytest.approx(1.5e-4)
    assert lr_at(120, cfg) == pytest.approx(0.75e-4)  # half-way through the 160-epoch cosine
    assert lr_at(200, cfg) == pytest.approx(0.0, abs=1e-12)


def test_scheduler_steps_per_iteration():
    cfg = OptimConfig(lr=1.0, warmup_epochs=1, cosine_epochs=3, epochs=2)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(opt, cfg, steps_per_epoch=4)
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert seen[6] == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(torch.pi * 0.25)).item()))


def test_no_weight_decay_on_biases_norms_and_frozen_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    frozen = nn.Parameter(torch.zeros(2, 2), requires_grad=False)
    model.register_parameter("frozen", frozen)
    decay, no_decay = param_groups(model, 0.05)
    assert [p.shape for p in decay["params"]] == [(4, 3)] and decay["weight_decay"] == 0.05
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
    assert build_optimizer(model, OptimConfig()).defaults["betas"] == (0.9, 0.95)


def test_checkpoints_are_atomic_pruned_and_restore_rng(tmp_path):
    for step in (2, 4, 6):
        ckpt.save_checkpoint(tmp_path, step, {"w": torch.full((2,), float(step))}, keep=2)
    (tmp_path / "checkpoints" / ".tmp-leftover.pt").write_bytes(b"torn")  # a crash mid-write leaves only a temp
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 6]
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))
    assert state["step"] == 6 and torch.equal(state["w"], torch.full((2,), 6.0))
    path = ckpt.save_checkpoint(tmp_path, 8, {}, keep=2)
    expected = torch.rand(3)  # the first draw after the save
    torch.manual_seed(123)
    ckpt.restore_rng_states(ckpt.load_checkpoint(path)["rng"])
    assert torch.equal(torch.rand(3), expected)
