"""A two-parameter mmengine model (for Runner tests: where the Runner puts it, what its hooks see)."""

from __future__ import annotations

import torch
from mmengine.model import BaseModel


class Tiny(BaseModel):
    """``Linear(2, 2)``; ``mode="loss"`` gives ``{"loss": mean(out²)}``."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode="tensor"):
        """The layer's output, or its loss."""
        out = self.layer(inputs)
        return {"loss": out.pow(2).mean()} if mode == "loss" else out
