"""Text masking runs in the DataLoader workers: same batches with 0 or 1 worker, seeded by the consuming step."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from _pretrain_tiny import tiny_pairs

from ecamp_bench.distributed import derive_seed
from ecamp_bench.models.sr_region import build_sr_rule
from ecamp_bench.pretrain.data import PretrainDataset, ResumableDistributedSampler, StepSeeds, TextCollate
from ecamp_bench.pretrain.setup import default_image_loader
from ecamp_bench.text.masking import MaskingConfig, TextBatcher
from ecamp_bench.text.tokenizer import train_wordpiece


def test_step_seeds_name_the_consuming_step_and_micro_step():
    seeds = StepSeeds(seed=7, rank=1, batch_size=4, accum_steps=2, steps_per_epoch=3)
    # epoch 1, sample 12 = batch 3 of the epoch = step 1·3 + 1, micro-step 1
    assert seeds(1, 12) == (derive_seed(7, 1, 4, 1), 4, 1)
    assert seeds(0, 0)[1:] == (0, 0) and seeds(0, 7)[1:] == (0, 1)


def test_worker_and_main_process_build_the_same_text_batches(tmp_path):
    pairs = tiny_pairs(tmp_path)
    dataset = PretrainDataset(pairs, hr_size=64, crop_scale=(0.5, 1.0), crop_ratio=(0.75, 1.33), hflip_prob=0.5,
                              mean=0.5, std=0.25, sr_rule=build_sr_rule("full", 3, 4), seed=0,
                              image_loader=default_image_loader)
    tokenizer = train_wordpiece([p.report for p in pairs], vocab_size=200, min_frequency=1)
    collate = TextCollate(TextBatcher(tokenizer, MaskingConfig(max_length=48, mlm_targets="masked")),
                          StepSeeds(seed=7, rank=0, batch_size=4, accum_steps=2, steps_per_epoch=2))
    runs = []
    for workers in (0, 1):
        sampler = ResumableDistributedSampler(dataset, 1, 0, seed=3)
        sampler.set_position(1, 4)  # resume part-way: epoch 1 from its second micro-batch
        loader = DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=workers, collate_fn=collate)
        runs.append(list(loader))
    assert [b["text_step"] for b in runs[0]] == [(2, 1), (3, 0), (3, 1)]
    for a, b in zip(*runs, strict=True):
        assert a["text"].input_ids.shape[1] < 48  # padded to the longest text
        for name in ("input_ids", "target_ids", "weights", "loss_mask"):
            assert torch.equal(getattr(a["text"], name), getattr(b["text"], name)), name
        assert torch.equal(a["image_hr"], b["image_hr"])
