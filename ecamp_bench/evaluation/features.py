"""Image batches for backbones, and the frozen-feature cache of the linear protocol.

Preprocessing (``PREPROCESSING``): load with :func:`ecamp_bench.data.images.load_image` (``[H, W]`` in
``[0, 1]``), resize the whole image to ``input_size × input_size`` (bilinear, antialiased), repeat the gray
channel 3 times, normalise with the backbone's mean/std.

Cache: features of every image of a table are computed once and stored as
``<cache_dir>/features/<key>.npz``. The key is the sha256 of the weights identity (file sha256, or the
digest of the in-memory random init), the architecture and its kwargs, the preprocessing (name, size,
mean, std, pooling) and the image set (ordered ids, paths, sizes and mtimes). Changing any of them
gives a new key, so a cached entry is never stale. Entries are written atomically.

Under DDP each rank extracts its shard of the images and every rank receives all features; rank 0 alone
reads and writes the cache and hands a cached entry to the other ranks.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ecamp_bench.config import canonical_json
from ecamp_bench.data.images import load_image
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.distributed import DistInfo, broadcast_object, gather_rows, shard_indices
from ecamp_bench.evaluation.context import NullProgress, ProgressReporter
from ecamp_bench.models.backbone import Backbone

PREPROCESSING = "gray-resize-square-v1"


def to_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """``[H, W]`` float image in ``[0, 1]`` → ``[3, size, size]`` (bilinear resize, gray repeated)."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]  # [1, 1, H, W]
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[0].expand(3, -1, -1).contiguous()  # [3, S, S]


def to_tensor_center(image: np.ndarray, size: int) -> torch.Tensor:
    """``[H, W]`` in ``[0, 1]`` → ``[3, size, size]``: short side resized to ``size`` (aspect kept, bilinear,
    antialiased; long side ``int(size * long / short)`` as torchvision's ``Resize(size)``), then the centre square
    (torchvision's ``CenterCrop``: offsets rounded)."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]  # [1, 1, H, W]
    h, w = x.shape[-2:]
    short, long = (h, w) if h <= w else (w, h)
    new_long = int(size * long / short)
    new_hw = (size, new_long) if h <= w else (new_long, size)
    if (h, w) != new_hw:
        x = F.interpolate(x, size=new_hw, mode="bilinear", align_corners=False, antialias=True)
    top, left = int(round((new_hw[0] - size) / 2.0)), int(round((new_hw[1] - size) / 2.0))
    return x[0, :, top : top + size, left : left + size].expand(3, -1, -1).contiguous()  # [3, S, S]


RESIZERS: dict[str, Callable[[np.ndarray, int], torch.Tensor]] = {
    "resize": to_tensor, "shortside-centercrop": to_tensor_center,
}


class ImageDataset(Dataset):
    """``(image [3, S, S] normalised, index)`` for each sample; ``augment`` (optional) acts on ``[3, S, S]``.

    ``augment(x, generator)`` draws from the generator it is given: the dataset is indexed with
    ``(index, seed)`` pairs (:class:`SeededSampler`), so a sample's augmentation depends on the seed drawn for
    it in the main process, not on which worker process loads it (``--num-workers`` changes nothing).

    ``resize`` names how an image becomes ``S × S`` (:data:`RESIZERS`: the whole image squashed, or the short side
    resized and the centre cropped).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        resize: str = "resize",
    ):
        if resize not in RESIZERS:
            raise ValueError(f"resize {resize!r} is not one of {sorted(RESIZERS)}")
        self.resizer = RESIZERS[resize]
        self.samples = list(samples)
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        x = self.resizer(load_image(self.samples[index].image_path), self.size)  # [3, S, S]
        if self.augment is not None:
            generator = torch.Generator()
            generator.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,))))
            x = self.augment(x, generator)
        return (x - self.mean) / self.std, index


class SeededSampler(Sampler):
    """Wraps a sampler: yields ``(index, seed)``, the seeds drawn in order from a generator seeded with ``seed``.

    The sampler runs in the main process, so each drawn sample's augmentation seed is fixed by the run seed and
    the draw order alone. ``set_epoch`` is passed on to a ``DistributedSampler``.
    """

    def __init__(self, sampler: Sampler, seed: int) -> None:
        self.sampler = sampler
        self.generator = torch.Generator()
        self.generator.manual_seed(int(seed) + 0x5EED)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for index in self.sampler:
            yield int(index), int(torch.randint(0, 2**62, (1,), generator=self.generator))

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the wrapped sampler when it has one (DDP)."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


def image_loader(
    table: SampleTable,
    backbone: Backbone,
    *,
    batch_size: int,
    num_workers: int = 0,
    shuffle: bool = False,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    dist: DistInfo | None = None,
    pin_memory: bool = False,
    resize: str = "resize",
) -> DataLoader:
    """A DataLoader of normalised image batches for ``backbone`` over ``table`` (``resize``: see :class:`ImageDataset`).

    ``pin_memory`` (for a CUDA run): batches in page-locked memory, so ``.to(device, non_blocking=True)``
    overlaps the copy with the GPU's work.

    With ``shuffle`` under DDP each rank draws its own part of every epoch (``DistributedSampler`` seeded
    with ``seed``; call ``loader.sampler.set_epoch(e)``), and ``batch_size`` is the per-rank batch.
    """
    dataset = ImageDataset(table.samples, backbone.input_size, backbone.spec.mean, backbone.spec.std, augment, resize)
    generator = torch.Generator().manual_seed(seed)
    if shuffle and dist is not None and dist.distributed:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed)
        if augment is not None:
            sampler = SeededSampler(sampler, seed + 7919 * dist.rank)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, generator=generator,
                          pin_memory=pin_memory)
    if augment is not None:  # per-sample augmentation seeds (see ImageDataset); the same order as shuffle=True
        from torch.utils.data import RandomSampler, SequentialSampler

        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, batch_size=batch_size, sampler=SeededSampler(order, seed), num_workers=num_workers,
                          drop_last=False, pin_memory=pin_memory)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, generator=generator, drop_last=False,
        pin_memory=pin_memory,
    )


def shard_of(table: SampleTable, dist: DistInfo) -> tuple[list[int], SampleTable]:
    """This rank's indices into ``table`` (:func:`~ecamp_bench.distributed.shard_indices`) and the sub-table they
    form."""
    mine = shard_indices(len(table), dist)
    return mine, SampleTable(table.layout, table.root, [table[i] for i in mine])


def image_set_digest(table: SampleTable) -> str:
    """sha256 of the ordered (id, path, size, mtime) of every image: changes when any image changes."""
    digest = hashlib.sha256()
    for sample in table:
        path = Path(sample.image_path)
        try:
            stat = path.stat()
            stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{sample.image_id}\0{path}\0{stamp}\n".encode())
    return digest.hexdigest()


def feature_cache_key(backbone: Backbone, weights_id: str, table: SampleTable) -> str:
    """The cache key of ``backbone``'s global features over ``table`` (see the module docstring)."""
    spec = backbone.spec
    identity = {
        "weights": weights_id,
        "arch": spec.arch,
        "model_kwargs": dict(spec.model_kwargs),
        "global_pool": spec.global_pool,
        "preprocessing": PREPROCESSING,
        "input_size": backbone.input_size,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "images": image_set_digest(table),
    }
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:32]


@torch.no_grad()
def extract_features(
    backbone: Backbone,
    table: SampleTable,
    *,
    device: torch.device,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: ProgressReporter | None = None,
    dist: DistInfo | None = None,
) -> np.ndarray:
    """Global features ``[N, D]`` (float32) of every image of ``table`` with the backbone in eval mode (sharded
    under DDP)."""
    progress = progress or NullProgress()
    dist = dist or DistInfo()
    backbone.eval()
    mine, part = shard_of(table, dist)
    out = np.zeros((len(mine), backbone.num_features), dtype=np.float32)
    loader = image_loader(part, backbone, batch_size=batch_size, num_workers=num_workers,
                          pin_memory=device.type == "cuda")
    with progress.bar(f"features {backbone.spec.name}", len(mine)) as advance:
        for images, index in loader:
            feats = backbone.forward_global(images.to(device, non_blocking=True))  # [B, D] on the device
            # the cache holds CPU float32 (one copy per batch; the GPU keeps only the running batch)
            out[index.numpy()] = feats.float().cpu().numpy()
            advance(len(index))
    return gather_rows(len(table), mine, out, dist)


def cached_features(
    backbone: Backbone,
    weights_id: str,
    table: SampleTable,
    cache_dir: Path,
    *,
    device: torch.device,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: ProgressReporter | None = None,
    dist: DistInfo | None = None,
) -> tuple[dict[str, int], np.ndarray, bool]:
    """``(id → row, features [N, D], was_cached)``: loaded from the cache, or extracted and stored."""
    dist = dist or DistInfo()
    key = feature_cache_key(backbone, weights_id, table)
    path = Path(cache_dir) / "features" / f"{key}.npz"
    ids = table.ids
    row_of = {i: r for r, i in enumerate(ids)}
    cached = broadcast_object(_read_cache_entry(path, ids) if dist.is_main else None, dist)
    if cached is not None:
        return row_of, cached, True
    features = extract_features(
        backbone, table, device=device, batch_size=batch_size, num_workers=num_workers, progress=progress, dist=dist
    )
    if dist.is_main:
        _write_cache_entry(path, key, ids, features)
    return row_of, features, False


def _read_cache_entry(path: Path, ids: list[str]) -> np.ndarray | None:
    """The cached features at ``path`` when it holds exactly ``ids``; ``None`` when missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if list(data["ids"]) == ids:
                return data["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        pass  # unreadable (e.g. truncated) entry: recompute and overwrite
    return None


def _write_cache_entry(path: Path, key: str, ids: list[str], features: np.ndarray) -> None:
    """Store ``features`` for ``ids`` at ``path`` atomically."""
    from ecamp_bench.atomic import atomic_path

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, ids=np.array(ids, dtype=str), features=features)
