"""Protocol ``linear`` (MGCA lineage): frozen encoder, linear head on cached global features.

Published values (MGCA ``ssl_finetuner.py``, docs/protocols.md): AdamW lr 5e-4, betas (0.9, 0.999),
weight decay 1e-6, batch size 48, at most 50 epochs, early stopping on val loss with patience 10, the best
val-loss head is tested. This module is the one source of these values: the dataclass defaults are the
published values, ``ProtocolSpec.presets`` the named presets (``tiny`` for CPU smoke runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecamp_bench.api import ProtocolSpec, hookimpl


@dataclass(frozen=True)
class LinearParams:
    """Hyper-parameters of the linear probe (defaults = MGCA's published values)."""

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-6
    batch_size: int = 48
    max_epochs: int = 50
    patience: int = 10
    feature_batch_size: int = 64


# Small synthetic sets: a few dozen training images give too few AdamW steps at 5e-4.
TINY = {"lr": 1e-2, "batch_size": 16, "max_epochs": 100, "patience": 10}


@hookimpl
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """The linear-probe protocol."""
    return [
        ProtocolSpec(
            name="linear",
            version=1,
            kinds=("classification",),
            params=LinearParams,
            run="ecamp_bench.evaluation.linear_probe:run",
            presets={"tiny": TINY},
            description="frozen encoder + linear head on cached features (MGCA); best val loss -> test",
            lineage="MGCA (NeurIPS 2022) linear classification",
        )
    ]
