"""Detection samples → images and mmdet ``DetDataSample``s at the evaluated resolution.

Preprocessing (MGCA's, docs/protocols.md, "frozen-det"): the DICOM is loaded with
:func:`~ecamp_bench.data.images.load_image`
(``[H, W]`` in ``[0, 1]``) and resized **straight** to ``size × size`` (bilinear, antialiased; the aspect ratio
is not kept), gray repeated to 3 channels, left in ``[0, 1]`` (``EcampBenchBackbone`` normalises itself).
Boxes: the task's ground truth (``boxes_of``, i.e. ``RunContext.boxes``) is ``(x1, y1, x2, y2)`` in
stored-image pixels; :func:`boxes_at_size` maps them to pixels of the resized image
(x scaled by ``size / W``, y by ``size / H``), returning new arrays (the sample is never mutated — MGCA's
dataset divided its stored boxes in place). Negatives get an empty ``[0, 4]`` box array.

Images are decoded once per table and kept as ``uint8`` ``[N, size, size]`` (one byte per pixel, so the
a 27k-image set at 224 px fits in 1.3 GB). With a ``cache_dir`` the array is also stored as
``<cache_dir>/det-images/<key>.npy``, the key being the sha256 of the preprocessing name, the size and the
image set (ordered ids, paths, file sizes and mtimes), so every fraction and seed reuses the decoded
val/test images and a changed file gives a new key. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ecamp_bench.data.images import load_image
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.errors import DataError
from ecamp_bench.evaluation.context import NullProgress, ProgressReporter
from ecamp_bench.evaluation.features import to_tensor


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``[N, 4]`` ``(x, y, width, height)`` → ``(x1, y1, x2, y2)`` (a new array)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``[N, 4]`` ``(x1, y1, x2, y2)`` → ``(x, y, width, height)`` (a new array)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def image_shape(sample: Sample) -> tuple[int, int]:
    """``(height, width)`` of the stored image, from the sample (layout adapters read it from the file header)."""
    if not sample.width or not sample.height:
        raise DataError("detection needs the stored image size (width/height) of every sample", path=sample.image_path)
    return int(sample.height), int(sample.width)


BoxesOf = Callable[[Sample], np.ndarray]  # sample → [G, 4] (x1, y1, x2, y2) stored pixels; RunContext.boxes


def sample_boxes(sample: Sample) -> np.ndarray:
    """The sample's own ``boxes`` field as ``[G, 4]`` (the default ``boxes_of`` for tools and tests)."""
    return np.asarray(sample.boxes, dtype=np.float64).reshape(-1, 4)


def boxes_at_size(sample: Sample, size: int, boxes: np.ndarray | None = None) -> np.ndarray:
    """``boxes`` (default: the sample's) ``[G, 4]`` (x1, y1, x2, y2) in pixels of the ``size × size`` resized image."""
    height, width = image_shape(sample)
    boxes = np.asarray(sample_boxes(sample) if boxes is None else boxes, dtype=np.float64).reshape(-1, 4)
    scale = np.array([size / width, size / height, size / width, size / height])
    return boxes * scale[None, :]


def boxes_to_original(boxes: np.ndarray, sample: Sample, size: int) -> np.ndarray:
    """Inverse of :func:`boxes_at_size`: ``[P, 4]`` boxes at ``size`` → stored-image pixels."""
    height, width = image_shape(sample)
    scale = np.array([width / size, height / size, width / size, height / size])
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale[None, :]


PREPROCESSING = "det-gray-resize-square-uint8-v1"


def image_set_key(table: SampleTable, size: int) -> str:
    """sha256 of the preprocessing, ``size`` and the image set (ids, paths, file sizes, mtimes, in order)."""
    entries = []
    for sample in table:
        stat = Path(sample.image_path).stat()
        entries.append([sample.image_id, str(sample.image_path), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"preprocessing": PREPROCESSING, "size": int(size), "images": entries})
    return hashlib.sha256(text.encode()).hexdigest()


def load_images(
    table: SampleTable, size: int, progress: ProgressReporter | None = None, cache_dir: Path | None = None
) -> np.ndarray:
    """Every image of ``table`` decoded and resized to ``uint8`` ``[N, size, size]`` (cached when ``cache_dir``)."""
    path = Path(cache_dir) / "det-images" / f"{image_set_key(table, size)}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        cached = np.load(path, allow_pickle=False)
        if cached.shape == (len(table), size, size) and cached.dtype == np.uint8:
            return cached
    images = _decode(table, size, progress or NullProgress())
    if path is not None:
        from ecamp_bench.atomic import atomic_path

        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, images, allow_pickle=False)
    return images


def _decode(table: SampleTable, size: int, progress: ProgressReporter) -> np.ndarray:
    out = np.empty((len(table), size, size), dtype=np.uint8)
    with progress.bar(f"loading {len(table)} images", len(table)) as advance:
        for i, sample in enumerate(table):
            x = to_tensor(load_image(sample.image_path), size)[0]  # [S, S] in [0, 1]
            out[i] = np.round(x.clamp(0, 1).numpy() * 255.0).astype(np.uint8)
            advance(1)
    return out


class DetectionSet:
    """A table ready for mmdet: cached ``uint8`` images ``[N, S, S]`` and ground-truth boxes at ``size``."""

    def __init__(
        self, table: SampleTable, size: int, progress: ProgressReporter | None = None, cache_dir: Path | None = None,
        boxes_of: BoxesOf = sample_boxes,
    ):
        self.table = table
        self.size = int(size)
        self.images = load_images(table, self.size, progress, cache_dir)  # [N, S, S] uint8
        self.gt_boxes = [boxes_at_size(s, self.size, boxes_of(s)) for s in table]  # N × [G, 4]

    def __len__(self) -> int:
        return len(self.table)

    def batch(self, indices: Sequence[int], *, hflip: Sequence[bool] | None = None) -> dict:
        """``{"inputs": [3, S, S] float tensors in [0, 1], "data_samples": DetDataSample list}`` for ``indices``."""
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        inputs, samples = [], []
        for k, i in enumerate(indices):
            image = torch.from_numpy(self.images[i]).float().div_(255.0)  # [S, S]
            boxes = self.gt_boxes[i].copy()  # [G, 4]
            if hflip is not None and hflip[k]:
                image = image.flip(-1)
                boxes = np.stack([self.size - boxes[:, 2], boxes[:, 1], self.size - boxes[:, 0], boxes[:, 3]], axis=1)
            inputs.append(image[None].expand(3, -1, -1).contiguous())  # [3, S, S]
            sample = DetDataSample(metainfo={
                "img_id": self.table[i].image_id, "img_shape": (self.size, self.size),
                "ori_shape": (self.size, self.size), "scale_factor": (1.0, 1.0),
                "pad_shape": (self.size, self.size), "batch_input_shape": (self.size, self.size),
            })
            sample.gt_instances = InstanceData(
                bboxes=torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                labels=torch.zeros(len(boxes), dtype=torch.long),
            )
            samples.append(sample)
        return {"inputs": inputs, "data_samples": samples}


__all__ = [
    "BoxesOf", "DetectionSet", "boxes_at_size", "sample_boxes", "boxes_to_original", "image_set_key", "image_shape",
    "load_images", "xywh_to_xyxy", "xyxy_to_xywh",
]
