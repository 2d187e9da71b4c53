"""The uniform sample every layout adapter produces, and the table of them that tasks consume."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One image with everything a task may need from it.

    ``image_id`` is unique within its layout (DICOM id, CheXpert path, RSNA patientId, SIIM ImageId).
    ``labels`` maps a label name to 1.0 / 0.0, -1.0 (uncertain, CheXpert) or NaN (not mentioned).
    ``boxes`` are ``(x1, y1, x2, y2)`` in pixels of the stored image. ``mask_rle`` holds the Kaggle RLE
    strings of the image (several rows are merged into one mask by the SIIM adapter's decoder).
    ``report`` is the report text used for pre-training (FINDINGS + IMPRESSION), ``split`` the split the
    dataset itself assigns (MIMIC's split file, CheXpert's train/valid), if any.
    """

    image_id: str
    image_path: Path
    patient_id: str
    study_id: str | None = None
    view: str | None = None
    labels: dict[str, float] = field(default_factory=dict)
    boxes: tuple[Box, ...] = ()
    mask_rle: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None
    report: str | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def label(self, name: str) -> float:
        """The value of label ``name``, NaN when the sample does not mention it."""
        return self.labels.get(name, math.nan)

    def with_labels(self, labels: dict[str, float]) -> Sample:
        """A copy with ``labels`` replaced."""
        return replace(self, labels=dict(labels))


@dataclass(frozen=True)
class SampleTable:
    """An ordered collection of :class:`Sample` read from one dataset root by one layout."""

    layout: str
    root: Path
    samples: tuple[Sample, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", tuple(self.samples))

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    @property
    def ids(self) -> list[str]:
        """The image ids, in table order."""
        return [s.image_id for s in self.samples]

    @property
    def patients(self) -> list[str]:
        """The patient id of each sample, in table order."""
        return [s.patient_id for s in self.samples]

    def label_matrix(self, labels: Sequence[str]) -> np.ndarray:
        """A float array ``[N, len(labels)]`` of label values (NaN where a sample has none)."""
        return np.array([[s.label(name) for name in labels] for s in self.samples], dtype=np.float64).reshape(
            len(self.samples), len(labels)
        )

    def filter(self, keep: Callable[[Sample], bool]) -> SampleTable:
        """The samples for which ``keep`` is true, in the same order."""
        return SampleTable(self.layout, self.root, tuple(s for s in self.samples if keep(s)))

    def select(self, image_ids: Iterable[str]) -> SampleTable:
        """The samples with these ids, in the order given; an unknown id raises ``KeyError`` naming it."""
        by_id = {s.image_id: s for s in self.samples}
        chosen = []
        for image_id in image_ids:
            if image_id not in by_id:
                raise KeyError(f"image id {image_id!r} is not in the {self.layout} table at {self.root}")
            chosen.append(by_id[image_id])
        return SampleTable(self.layout, self.root, tuple(chosen))

    def map(self, change: Callable[[Sample], Sample]) -> SampleTable:
        """A table with ``change`` applied to every sample."""
        return SampleTable(self.layout, self.root, tuple(change(s) for s in self.samples))
