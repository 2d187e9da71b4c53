"""What an encoder costs to run: parameters, GFLOPs per image at its input size, feature-extraction images/s.

- ``params``: the encoder's parameter count (``Backbone.encoder``; no head).
- ``gflops``: FLOPs of one global-feature forward pass (``forward_global``) on one ``3 × S × S`` image, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and convolutions; a multiply-add is 2 FLOPs;
  element-wise ops are not counted), divided by 1e9.
- ``images_per_s``: wall-clock encoder throughput in eval mode under ``torch.no_grad`` on the run's device, batches
  of :data:`BATCH` random images (one warm-up batch, then batches until :data:`MIN_SECONDS` have passed, at most
  :data:`MAX_BATCHES`); decoding and resizing are not included. A wall-clock figure: on a shared machine it moves.

Weights do not change any of these, so a measurement is cached per (architecture, kwargs, input size, pooling,
device, torch version) in ``<cache_dir>/cost/<key>.json`` and reused by every run of that encoder on that device.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ecamp_bench.config import canonical_json

BATCH = 16
MIN_SECONDS = 1.0
MAX_BATCHES = 20


def cost_key(spec, device: str) -> str:
    """The cache key of ``spec``'s cost on ``device``."""
    import torch

    identity = {
        "arch": spec.arch,
        "model_kwargs": dict(spec.model_kwargs),
        "input_size": int(spec.input_size),
        "global_pool": spec.global_pool,
        "feature_indices": list(spec.feature_indices or ()),
        "device": str(device),
        "torch": torch.__version__,
    }
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:24]


def count_gflops(backbone, device) -> float:
    """GFLOPs of ``backbone.forward_global`` on one image at its input size (FlopCounterMode, no printing)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, backbone.input_size, backbone.input_size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        backbone.forward_global(x)
    return counter.get_total_flops() / 1e9


def images_per_second(backbone, device) -> tuple[float, int]:
    """``(images/s, images timed)`` of ``forward_global`` on random batches (see the module docstring)."""
    import torch

    x = torch.randn(BATCH, 3, backbone.input_size, backbone.input_size, generator=torch.Generator().manual_seed(0)).to(
        device
    )
    with torch.no_grad():
        backbone.forward_global(x)  # warm-up
        _sync(device)
        timed, start = 0, time.perf_counter()
        while timed < BATCH * MAX_BATCHES:
            backbone.forward_global(x)
            _sync(device)
            timed += BATCH
            if time.perf_counter() - start >= MIN_SECONDS:
                break
        elapsed = time.perf_counter() - start
    return timed / elapsed, timed


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def measure(spec, device) -> dict:
    """Build ``spec`` (random weights) and measure it: ``{params, gflops, images_per_s, ...}``."""
    import torch

    from ecamp_bench.models.backbone import build_backbone

    torch.manual_seed(0)
    backbone = build_backbone(spec, None).to(device).eval()
    params = sum(p.numel() for p in backbone.encoder.parameters())
    gflops = count_gflops(backbone, device)
    rate, timed = images_per_second(backbone, device)
    return {
        "params": int(params),
        "gflops": round(gflops, 6),
        "input_size": int(backbone.input_size),
        "images_per_s": round(rate, 3),
        "images_timed": timed,
        "batch_size": BATCH,
        "device": str(device),
        "flops_counter": "torch.utils.flop_counter.FlopCounterMode (multiply-add = 2 FLOPs)",
        "throughput": "forward_global on random batches, wall clock, no decode",
    }


def encoder_cost(spec, device, cache_dir: Path) -> dict:
    """The cost of ``spec`` on ``device`` (cached, see the module docstring); ``{"error": ...}`` when it fails.

    A failure never fails the run it belongs to: the record then says why the cost is missing.
    """
    path = Path(cache_dir) / "cost" / f"{cost_key(spec, str(device))}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    try:
        cost = measure(spec, device)
    except Exception as exc:  # noqa: BLE001 - reported in the record, the run's metrics stand
        return {"error": f"{type(exc).__name__}: {exc}"}
    from ecamp_bench.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(cost, indent=2, sort_keys=True) + "\n")
    return cost
