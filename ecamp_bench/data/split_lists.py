"""Import published split lists (``.txt`` image lists, ``.csv`` tables) so a paper's exact split is reproduced.

MRM, ECAMP and BenchX ship their splits as files listing images, one per line or one per CSV row, by image
id or by path (often relative to a different root than ours). An entry matches a sample when it is the
sample's image id, when it and the sample's path share a path suffix (``CheXpert-v1.0-small/train/p1/...``
matches ``train/p1/...`` and vice versa), or when its file stem is an image id (``<id>.dcm``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ecamp_bench.errors import DataError

ID_COLUMNS = ("image_id", "ImageId", "dicom_id", "patientId", "Path", "path", "image_path", "image", "filename", "file")
_AMBIGUOUS = ""
_SHOWN = 20


@dataclass(frozen=True)
class ListEntry:
    """One entry of a published split list: the file ``line`` it is on, the image it names (``entry``: an id or
    a path), and what the line says about the image, if anything: ``labels`` (the numbers after the path in
    MRM/ECAMP ``.txt`` lists, in the task's label order), ``boxes`` (``[[x1, y1, x2, y2], ...]`` in ECAMP's
    detection CSVs; all-zero boxes mean none) or ``rle`` (the ``EncodedPixels`` of ECAMP's SIIM CSVs)."""

    line: int
    entry: str
    labels: tuple[float, ...] | None = None
    boxes: tuple[tuple[float, float, float, float], ...] | None = None
    rle: str | None = None


def _boxes(text: str, path: Path, line: int) -> tuple[tuple[float, float, float, float], ...]:
    try:
        value = json.loads(text)
        boxes = tuple(tuple(float(v) for v in box) for box in value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"bbox is not a list of [x1, y1, x2, y2] boxes: {text[:60]!r} ({exc})", path=path, row=line,
                        key="bbox") from None
    if any(len(box) != 4 for box in boxes):
        raise DataError(f"bbox entries must have 4 numbers: {text[:60]!r}", path=path, row=line, key="bbox")
    return tuple(box for box in boxes if any(box))  # [[0, 0, 0, 0]] marks an image without boxes


def read_list_entries(path: Path, *, column: str | None = None) -> list[ListEntry]:
    """Every entry of a split list, in file order.

    ``.txt``: one image per non-blank, non-``#`` line: the first token, then optional numeric labels (MRM, ECAMP:
    ``stage_2_test_images/<id>.dcm 1``; BenchX: a bare id). ``.csv``: the id column (``column``, else the first of
    :data:`ID_COLUMNS` present, else the first column), plus ``bbox`` and ``EncodedPixels`` when present.
    Malformed labels or boxes raise :class:`DataError` naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read the split list: {exc.strerror or exc}", path=path) from exc
    if path.suffix.lower() != ".csv":
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            try:
                labels = tuple(float(t) for t in tokens[1:]) or None
            except ValueError:
                raise DataError(f"labels after the image must be numbers: {' '.join(tokens[1:])[:60]!r}", path=path,
                                row=number) from None
            entries.append(ListEntry(number, tokens[0], labels))
        return entries
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    if column is not None and column not in header:
        raise DataError(f"no column '{column}' (columns: {', '.join(header)})", path=path, row=1)
    index = header.index(column or next((c for c in ID_COLUMNS if c in header), header[0]))
    box_index = header.index("bbox") if "bbox" in header else None
    rle_index = header.index("EncodedPixels") if "EncodedPixels" in header else None
    entries = []
    for number, row in enumerate(rows[1:], 2):
        if len(row) <= index or not row[index].strip():
            continue
        boxes = _boxes(row[box_index], path, number) if box_index is not None and len(row) > box_index else None
        rle = row[rle_index].strip() if rle_index is not None and len(row) > rle_index else None
        entries.append(ListEntry(number, row[index].strip(), boxes=boxes, rle=rle))
    return entries


def read_list_file(path: Path, *, column: str | None = None) -> list[tuple[int, str]]:
    """The entries of a split list as ``(line number, entry)`` (see :func:`read_list_entries`)."""
    return [(e.line, e.entry) for e in read_list_entries(path, column=column)]


class _Matcher:
    """Finds the sample an entry names, by image id, shared path suffix or file stem."""

    def __init__(self, table) -> None:
        self.ids = set(table.ids)
        self.by_suffix: dict[str, str] = {}
        for sample in table:
            parts = _relative_parts(Path(sample.image_path), Path(table.root))
            for k in range(1, len(parts) + 1):
                key = "/".join(parts[-k:])
                seen = self.by_suffix.get(key)
                self.by_suffix[key] = sample.image_id if seen in (None, sample.image_id) else _AMBIGUOUS

    def match(self, entry: str) -> str | None:
        """The image id ``entry`` names, or ``None``."""
        if entry in self.ids:
            return entry
        parts = [p for p in PurePosixPath(entry.replace("\\", "/")).parts if p not in ("/", ".")]
        for k in range(len(parts), 0, -1):
            hit = self.by_suffix.get("/".join(parts[-k:]))
            if hit:
                return hit
            if hit == _AMBIGUOUS:
                break
        stem = PurePosixPath(entry).stem
        return stem if stem in self.ids else None


def _relative_parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        return path.relative_to(root).parts
    except ValueError:
        return path.parts[1:] if path.is_absolute() else path.parts
