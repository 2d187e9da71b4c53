"""The ``import`` context backend: contexts from the CSV file ECAMP released (column ``llm_output``).

The study is identified by a column named ``study_id`` (or ``study``, ``studyid``, ``id``; ``id_column``
picks another). Ids are compared in a normal form: ``s50414267``, ``50414267`` and a MIMIC path holding the
``s50414267`` folder all mean study 50414267.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from ecamp_bench.errors import DataError, EcampBenchError

CONTEXT_COLUMN = "llm_output"
ID_COLUMNS = ("study_id", "study", "studyid", "id")
_PATH_STUDY = re.compile(r"(?:^|[/\\])s(\d+)(?:[/\\]|$)")


def normalise_study_id(value: str) -> str:
    """``s50414267`` / ``50414267`` / ``files/p10/p10000032/s50414267/x.jpg`` → ``50414267``."""
    value = value.strip()
    in_path = _PATH_STUDY.search(value)
    if in_path:
        return in_path.group(1)
    return value[1:] if len(value) > 1 and value[0] in "sS" and value[1:].isdigit() else value


def read_context_csv(path: str | os.PathLike[str], id_column: str | None = None) -> dict[str, str]:
    """normalised study id → context from an ECAMP context CSV; :class:`DataError` naming file, row, column."""
    path = Path(path)
    if not path.is_file():
        raise DataError("context CSV not found", path=path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if CONTEXT_COLUMN not in header:
            raise DataError(f"missing column '{CONTEXT_COLUMN}' (columns: {', '.join(header)})", path=path,
                            key=CONTEXT_COLUMN)
        wanted = (id_column,) if id_column else ID_COLUMNS
        column = next((c for c in wanted if c in header), None)
        if column is None:
            raise DataError(
                f"missing study id column (looked for {', '.join(wanted)}; columns: {', '.join(header)})",
                path=path,
                key=wanted[0],
            )
        contexts: dict[str, str] = {}
        for row_number, row in enumerate(reader, start=2):
            if None in row:
                raise DataError(f"more fields than the {len(header)} columns of the header", path=path, row=row_number)
            if row[column] is None or row[CONTEXT_COLUMN] is None:
                raise DataError("fewer fields than the header", path=path, row=row_number)
            contexts[normalise_study_id(row[column])] = row[CONTEXT_COLUMN].strip()
    return contexts


class ImportBackend:
    """Contexts looked up by study id in a released context CSV."""

    def __init__(self, path: str | os.PathLike[str], id_column: str | None = None):
        self.path = Path(path)
        self.name = f"import:{self.path.name}"
        self.contexts = read_context_csv(self.path, id_column)

    def distill(self, reports: list[str], study_ids: list[str] | None = None) -> list[str]:
        """The imported context of each study; :class:`EcampBenchError` if a study is not in the CSV."""
        if study_ids is None:
            raise EcampBenchError("the import backend needs study ids")
        missing = [s for s in study_ids if normalise_study_id(s) not in self.contexts]
        if missing:
            raise EcampBenchError(f"{self.path}: no context for study {', '.join(missing[:5])}")
        return [self.contexts[normalise_study_id(s)] for s in study_ids]
