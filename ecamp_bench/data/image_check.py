"""Checking the image files of a dataset tree: full decoding in parallel, or headers only (``quick``).

A layout's ``validate`` collects one :class:`ImageRef` per image its CSV names (with the CSV row that names it)
into an :class:`ImageChecks`, then calls :meth:`ImageChecks.run`. The full check decodes every file with
:func:`~ecamp_bench.data.images.load_image`, the loader training uses, so a JPEG cut short ("image file is
truncated"), a PNG with a broken stream or a DICOM whose pixel data does not decode is reported with its file;
Pillow's ``verify()`` alone would pass a truncated JPEG. The quick check opens each file and reads its header
only (format and size for JPEG/PNG, the DICOM header), so it misses damage in the pixel data, and says so.

Decoding runs in ``workers`` processes (default: all cores) in chunks, calling ``progress(done, total)`` as
results arrive; results keep the order of the refs, so the problem list is the same for any worker count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ecamp_bench.specs import Problem

Progress = Callable[[int, int], None]
_INLINE_BELOW = 64  # fewer images than this are checked in this process (a pool costs more than it saves)


@dataclass(frozen=True)
class CheckOptions:
    """How ``validate`` checks images: ``quick`` reads headers only; ``workers`` processes (None: all cores);
    ``progress(done, total)`` is called as images are checked."""

    quick: bool = False
    workers: int | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class ImageRef:
    """An image file to check and where it is named: ``source`` (the CSV), ``row`` (file line), ``key`` (column).
    ``header_read``: the layout already read its header (DICOM), so the quick check has nothing left to do."""

    path: Path
    source: Path | None = None
    row: int | None = None
    key: str | None = None
    header_read: bool = False


def check_file(path: str, quick: bool) -> str | None:
    """``None`` if ``path`` decodes (``quick``: if its header reads), else the reason, without the path."""
    from ecamp_bench.data.images import is_dicom, load_image, read_dicom_header
    from ecamp_bench.errors import DataError

    try:
        if not quick:
            load_image(Path(path))
        elif is_dicom(Path(path)):
            read_dicom_header(Path(path))
        else:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as image:
                    image.size  # noqa: B018  (the header is parsed on open)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                return f"unreadable image header ({exc})"
    except DataError as exc:
        return exc.message
    return None


def _check_chunk(paths: Sequence[str], quick: bool) -> list[str | None]:
    return [check_file(path, quick) for path in paths]


def check_files(paths: Sequence[Path], *, quick: bool = False, workers: int | None = None,
                progress: Progress | None = None, chunk: int = 32) -> list[str | None]:
    """:func:`check_file` for every path, in ``workers`` processes; one result per path, in order."""
    names = [str(p) for p in paths]
    total, done, results = len(names), 0, []
    workers = max(1, workers or os.cpu_count() or 1)
    if progress:
        progress(0, total)
    chunks = [names[i : i + chunk] for i in range(0, total, chunk)]
    if workers == 1 or total < _INLINE_BELOW:
        outcomes = (_check_chunk(part, quick) for part in chunks)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)))
        outcomes = pool.map(_check_chunk, chunks, [quick] * len(chunks))
    try:
        for part in outcomes:
            results.extend(part)
            done += len(part)
            if progress:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return results


@dataclass
class ImageChecks:
    """The images a layout's ``validate`` found, checked together at the end (see the module docstring)."""

    options: CheckOptions = field(default_factory=CheckOptions)
    refs: list[ImageRef] = field(default_factory=list)

    def add(self, path: Path, source: Path | None = None, row: int | None = None, key: str | None = None, *,
            header_read: bool = False) -> None:
        """Queue ``path`` (named by ``source`` at ``row``/``key``) for checking."""
        self.refs.append(ImageRef(Path(path), source, row, key, header_read))

    def run(self) -> list[Problem]:
        """One ``unreadable-image`` problem per image that fails, naming the image file and the CSV row."""
        quick = self.options.quick
        todo = [ref for ref in self.refs if not (quick and ref.header_read)]
        outcomes = check_files([ref.path for ref in todo], quick=quick, workers=self.options.workers,
                               progress=self.options.progress)
        return [Problem(path=str(ref.path), message=reason, row=ref.row, key=ref.key, code="unreadable-image")
                for ref, reason in zip(todo, outcomes) if reason is not None]
