"""``pretrain --dry-run``: build the model of a pre-training config, count its parameters, run one step on 2 images."""

from __future__ import annotations

import time

import torch

from ecamp_bench.models.ecamp import parameter_counts
from ecamp_bench.models.sr_region import FULL_BOX
from ecamp_bench.pretrain.config import PretrainConfig
from ecamp_bench.pretrain.loop import amp_dtype, build_model, forward_step
from ecamp_bench.pretrain.optim import build_optimizer
from ecamp_bench.text.masking import TextBatcher
from ecamp_bench.text.tokenizer import train_wordpiece

_REPORTS = (
    "Small left pleural effusion with adjacent atelectasis. There is no pneumothorax.",
    "Heart size is normal. There is no evidence of focal consolidation or edema.",
)


def dry_run(cfg: PretrainConfig, device: torch.device) -> dict:
    """Parameter counts, the three losses of one step on 2 random images, and the seconds it took."""
    started = time.perf_counter()
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg, cfg.text.vocab_size).to(device)
    tokenizer = train_wordpiece(list(_REPORTS) * 4, vocab_size=200, min_frequency=1)
    text = TextBatcher(tokenizer, cfg.text.masking)(list(_REPORTS), [None, None], torch.Generator().manual_seed(0))
    imgs_hr = torch.randn(2, 3, cfg.data.hr_size, cfg.data.hr_size, device=device)
    boxes = torch.tensor([FULL_BOX] * 2, device=device) * cfg.data.hr_size
    optimizer = build_optimizer(model, cfg.optim)
    out = forward_step(model, imgs_hr, boxes, text.to(device), cfg.model.img_size, None,
                       amp_dtype(cfg.optim.amp, device))
    out.loss.backward()
    optimizer.step()
    return {"parameters": parameter_counts(model), "losses": {k: float(v.detach()) for k, v in out.losses.items()},
            "loss": float(out.loss.detach()), "seconds": time.perf_counter() - started}
