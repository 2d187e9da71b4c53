"""Segmentation samples → mmseg inputs: images via ``load_image``, the task's masks, resized, through mmseg transforms.

:class:`SegmentationDataset` yields what mmseg's ``PackSegInputs`` produces — ``{"inputs": uint8 [3, S, S],
"data_samples": SegDataSample}`` with ``gt_sem_seg`` ``[1, S, S]`` (0 background, 1 foreground) — after
an optional mmseg ``RandomFlip`` (training). The mask of a sample comes from the task (``mask_of``, i.e.
``RunContext.mask``), never from the sample's own fields. Images are resized to ``S × S`` (the aspect is
not kept) with area interpolation, masks with :func:`ecamp_bench.data.masks.resize_mask` (nearest
neighbour, the rule the task scores with), so metrics are computed at the protocol's resolution.
The model's data preprocessor divides by 255 (mean 0, std 255),
and :class:`~ecamp_bench.mm.backbone.EcampBenchBackbone` applies the backbone's own mean/std.
Decoded, resized pairs are cached in memory (uint8) when the table is small enough.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from collections.abc import Callable

from ecamp_bench.data.images import load_image
from ecamp_bench.data.masks import resize_mask
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.distributed import DistInfo

CACHE_LIMIT_BYTES = 1 << 30
MaskOf = Callable[[Sample, tuple[int, int]], np.ndarray]  # (sample, (H, W)) → bool [H, W]; RunContext.mask


def load_pair(sample: Sample, size: int, mask_of: MaskOf) -> tuple[np.ndarray, np.ndarray]:
    """``(image uint8 [S, S], mask uint8 [S, S])`` of ``sample`` resized to ``size``; ``mask_of`` gives the truth."""
    import mmcv

    image = load_image(sample.image_path)  # [H, W] float in [0, 1]
    mask = mask_of(sample, image.shape)  # [H, W] bool
    image8 = np.round(image * 255.0).astype(np.uint8)
    image8 = mmcv.imresize(image8, (size, size), interpolation="area")
    return image8, resize_mask(mask, size)


class SegmentationDataset(Dataset):
    """mmseg-packed ``(image, mask)`` pairs of a :class:`SampleTable` at ``size`` px (see the module docstring)."""

    def __init__(self, table: SampleTable, size: int, *, mask_of: MaskOf, flip_prob: float = 0.0):
        from mmcv.transforms import Compose
        from mmseg.datasets.transforms import PackSegInputs, RandomFlip

        self.table, self.size, self.mask_of = table, int(size), mask_of
        steps = [RandomFlip(prob=flip_prob, direction="horizontal")] if flip_prob > 0 else []
        self.pipeline = Compose([*steps, PackSegInputs(meta_keys=("img_path", "ori_shape", "img_shape", "flip",
                                                                  "flip_direction"))])
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = (
            {} if len(table) * self.size * self.size * 2 <= CACHE_LIMIT_BYTES else None
        )

    def __len__(self) -> int:
        return len(self.table)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The resized ``(image, mask)`` of row ``index`` (uint8 ``[S, S]`` each)."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        pair = load_pair(self.table[index], self.size, self.mask_of)
        if self._cache is not None:
            self._cache[index] = pair
        return pair

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """The packed sample of row ``index``; ``key`` ``(index, seed)`` (from a :class:`SeededSampler`) makes its
        random flip a function of that seed alone, whichever process loads it (mmcv draws from numpy's global
        generator, which is saved and restored around the draw)."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        if seed is None:
            return self._packed(index)
        state = np.random.get_state()
        np.random.seed(int(seed) % 2**32)
        try:
            return self._packed(index)
        finally:
            np.random.set_state(state)

    def _packed(self, index: int) -> dict:
        image, mask = self.pair(index)
        sample = self.table[index]
        results = {
            "img": np.repeat(image[:, :, None], 3, axis=2),  # [S, S, 3]
            "gt_seg_map": mask.copy(),
            "seg_fields": ["gt_seg_map"],
            "img_path": str(sample.image_path),
            "ori_shape": (self.size, self.size),
            "img_shape": (self.size, self.size),
        }
        return self.pipeline(results)

    def masks(self) -> np.ndarray:
        """All ground-truth masks ``[N, S, S]`` uint8, in table order."""
        return (np.stack([self.pair(i)[1] for i in range(len(self))]) if len(self)
                else np.zeros((0, self.size, self.size), np.uint8))


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int, num_workers: int = 0, dist: DistInfo | None = None
) -> DataLoader:
    """A ``DataLoader`` with mmengine's ``pseudo_collate`` (lists of tensors and data samples), seeded shuffling.

    Under DDP (``dist`` with several ranks) a ``DistributedSampler`` gives each rank its share (strided, so
    mmengine's evaluator puts gathered results back in dataset order) and ``batch_size`` is per rank. With
    ``shuffle`` the sampler is wrapped in :class:`~ecamp_bench.evaluation.features.SeededSampler`: the random
    flip of each drawn sample comes from a seed drawn in the main process (same results for any ``num_workers``).
    """
    from mmengine.dataset import pseudo_collate

    from torch.utils.data import RandomSampler

    from ecamp_bench.evaluation.features import SeededSampler

    generator = torch.Generator().manual_seed(int(seed))
    sampler = None
    if dist is not None and dist.distributed:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=shuffle,
                                     seed=int(seed))
    if shuffle:  # training: each drawn sample carries its own augmentation seed (worker count changes nothing)
        order = sampler if sampler is not None else RandomSampler(dataset, generator=generator)
        rank = dist.rank if dist is not None and dist.distributed else 0
        sampler = SeededSampler(order, int(seed) + 7919 * rank)
    return DataLoader(
        dataset, batch_size=int(batch_size), shuffle=shuffle if sampler is None else None, sampler=sampler,
        generator=generator, collate_fn=pseudo_collate, num_workers=int(num_workers), persistent_workers=False,
    )


__all__ = ["MaskOf", "SegmentationDataset", "load_pair", "make_loader"]
