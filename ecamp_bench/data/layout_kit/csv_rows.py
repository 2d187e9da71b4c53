"""Layout toolkit: a problem collector and tolerant CSV reading, shared by the layout readers.

Row numbers in problems and errors are **line numbers of the file** (the header is line 1), so a user can
jump straight to them. ``read`` stops at the first problem (raising :class:`DataError`); ``validate`` keeps
collecting, so one pass reports everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.errors import DataError
from ecamp_bench.specs import Problem

if TYPE_CHECKING:
    import pandas as pd

HEADER_LINES = 1


def line_of(index: int) -> int:
    """File line number of the data row at 0-based position ``index`` (the header is line 1)."""
    return index + HEADER_LINES + 1


class Problems:
    """Collects problems; in ``strict`` mode the first one raises :class:`DataError` instead."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.items: list[Problem] = []

    def add(self, path: Path | str, message: str, *, row: int | None = None, key: str | None = None,
            code: str = "invalid") -> None:
        """Record a problem at ``path`` (and ``row``/``key``); raises at once when strict."""
        if self.strict:
            raise DataError(message, path=path, row=row, key=key)
        self.items.append(Problem(path=str(path), message=message, row=row, key=key, code=code))

    def __bool__(self) -> bool:
        return bool(self.items)


class SeenIds:
    """Where each image id was first listed, so a second listing is a problem naming the CSV and both lines.

    For label files whose rows are one image each (CheXpert's ``Path``, NIH's ``Image Index``, MIMIC's
    ``dicom_id``); files that list an image once per box or mask (RSNA, SIIM) merge their rows instead.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._first: dict[str, tuple[Path, int]] = {}

    def repeated(self, image_id: str, path: Path, line: int, problems: Problems) -> bool:
        """Whether ``image_id`` was listed before (then recorded as a problem at ``path``, ``line``)."""
        first = self._first.setdefault(image_id, (Path(path), line))
        if first == (Path(path), line):
            return False
        where = f"line {first[1]}" if first[0] == Path(path) else f"{first[0].name} line {first[1]}"
        problems.add(path, f"duplicate image id {image_id!r} (first listed at {where})", row=line, key=self.key,
                     code="duplicate-id")
        return True


def read_csv(path: Path, required: Sequence[str], problems: Problems) -> pd.DataFrame | None:
    """Read a CSV (or ``.csv.gz``) as strings with blanks kept as ``""``; ``None`` if missing/unusable.

    Column names and cells are stripped of surrounding spaces (Kaggle's ``ImageId, EncodedPixels``).
    A missing file or missing required columns is recorded as a problem naming the file. pandas is imported
    here, not with the module, so registering a layout plugin stays cheap.
    """
    import pandas as pd

    if not path.is_file():
        problems.add(path, "required file is missing", code="missing-file")
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError, EOFError) as exc:
        problems.add(path, f"cannot parse CSV ({type(exc).__name__}: {exc})", code="unreadable-file")
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    for column in missing:
        problems.add(path, f"missing column (found: {', '.join(frame.columns)})", row=1, key=column,
                     code="missing-column")
    if missing:
        return None
    return frame.apply(lambda col: col.str.strip())


def parse_float(text: str) -> float:
    """A CSV cell as float; blank → NaN; raises ``ValueError`` for anything else that is not a number."""
    return math.nan if text == "" else float(text)
