"""The first stage of the ``attention`` SR rule: choose each pair's window with the model trained so far."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ecamp_bench.errors import DataError
from ecamp_bench.models.ecamp import ECAMP
from ecamp_bench.models.sr_region import best_window, entity_attention
from ecamp_bench.pretrain.data import PretrainDataset
from ecamp_bench.distributed import DistInfo, all_gather_objects
from ecamp_bench.text.masking import TextBatcher


@torch.no_grad()
def compute_windows(
    model: ECAMP, dataset: PretrainDataset, batcher: TextBatcher, window: int, batch_size: int,
    device: torch.device, info: DistInfo, amp_dtype: torch.dtype | None = None,
) -> dict[str, tuple[int, int]]:
    """pair key → (i, j): the best window of the fusion layer's entity attention (all patches visible).

    Each rank handles every ``world_size``-th pair; the results are gathered on every rank. Images are the
    whole un-augmented images; the text is the plain report (no context, no masking).
    """
    was_training = model.training
    model.eval()
    mine: dict[str, tuple[int, int]] = {}
    indices = list(range(info.rank, len(dataset), info.world_size))
    generator = torch.Generator().manual_seed(0)  # masking draws are unused: the unmasked ids are fed
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        imgs = torch.stack([dataset.plain_view(i, model.cfg.img_size) for i in chunk]).to(device)  # [B, 3, H, W]
        ids, attention = batcher.encode(["[CLS] " + dataset.pairs[i].report for i in chunk])
        text = batcher.mask(ids, attention, generator)  # may drop trailing padding columns
        attention = text.attention_mask.to(device)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            attn = model.cross_attention_map(imgs, text.target_ids.to(device), attention)
        attn_map = entity_attention(attn, text.entity_mask.to(device), attention)  # [B, g, g]
        corners = best_window(attn_map, window).cpu().tolist()  # [B, 2]
        mine.update({dataset.pairs[i].key: (int(c[0]), int(c[1])) for i, c in zip(chunk, corners)})
    model.train(was_training)
    merged: dict[str, tuple[int, int]] = {}
    for part in all_gather_objects(mine, info):
        merged.update(part)
    return merged


def save_windows(path: Path, windows: dict[str, tuple[int, int]]) -> None:
    """Write ``{key: [i, j]}`` as JSON atomically."""
    from ecamp_bench.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps({k: list(v) for k, v in sorted(windows.items())}))


def load_windows(path: Path, grid: int, window: int) -> dict[str, tuple[int, int]]:
    """Read a windows file; every corner must lie in 0..grid-window (:class:`DataError` naming the key)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the SR windows file ({exc})", path=path) from exc
    out = {}
    for key, value in raw.items():
        if not (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and 0 <= v <= grid - window for v in value)):
            raise DataError(f"expected [i, j] with 0 <= i, j <= {grid - window}, got {value!r}", path=path, key=key)
        out[key] = (value[0], value[1])
    return out
