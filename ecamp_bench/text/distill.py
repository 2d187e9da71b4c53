"""Entity-centred context distillation: the backend interface, the context file, and the resumable runner.

**The context file.** One JSON-lines file per data root, by default ``<data root>/ecamp_contexts.jsonl``;
one object per line::

    {"study_id": "s50414267", "report_sha256": "<64 hex>", "backend": "rules-v1", "context": "Entity context: ..."}

A line is keyed by ``study_id``; a later line for the same study replaces an earlier one. A report whose
text (sha256) or backend changed is distilled again, everything else is skipped on a rerun. Lines are only
ever appended (flushed and fsynced per chunk), so a crash can at worst leave a torn last line, which readers
ignore and the next writer cuts off before appending. At the end of a run with superseded lines the file is
rewritten compactly (temp file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ecamp_bench.errors import DataError, EcampBenchError

CONTEXT_FILE_NAME = "ecamp_contexts.jsonl"


class BackendUnavailableError(EcampBenchError):
    """The backend cannot work at all (e.g. the LLM endpoint is unreachable): the run stops."""


class ContextBackend(Protocol):
    """Turns reports into entity-centred context strings.

    ``name`` identifies the backend and its settings (e.g. ``rules-v1``, ``llm:<model>``); it is stored
    with each context so that switching backends redoes the reports. ``study_ids`` (same order as
    ``reports``) is only needed by backends that look contexts up (``import``).
    """

    name: str

    def distill(self, reports: list[str], study_ids: list[str] | None = None) -> list[str]:
        """One context per report, in order."""
        ...


def default_context_path(data_root: str | os.PathLike[str]) -> Path:
    """Where the context file of a data root lives: ``<data root>/ecamp_contexts.jsonl``."""
    return Path(data_root) / CONTEXT_FILE_NAME


def report_sha256(report: str) -> str:
    """The hex sha256 of the report text (UTF-8) that keys its context."""
    return hashlib.sha256(report.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ContextRecord:
    """One line of the context file."""

    study_id: str
    report_sha256: str
    backend: str
    context: str


class ContextStore:
    """The append-only JSON-lines context file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def read(self) -> dict[str, ContextRecord]:
        """study id → latest record. A torn last line is ignored; any other bad line is a :class:`DataError`."""
        if not self.path.exists():
            return {}
        records: dict[str, ContextRecord] = {}
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            torn_tail = row == len(lines)  # no newline after it: an interrupted append
            try:
                obj = json.loads(line)
                record = ContextRecord(**{k: str(obj[k]) for k in ("study_id", "report_sha256", "backend", "context")})
            except (ValueError, KeyError, TypeError) as exc:
                if torn_tail:
                    continue
                raise DataError(f"not a context record ({exc})", path=self.path, row=row) from exc
            records[record.study_id] = record
        return records

    def _cut_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return
            fh.seek(0)
            fh.truncate(fh.read().rfind(b"\n") + 1)

    def append(self, records: Sequence[ContextRecord]) -> None:
        """Append records durably (flush + fsync), after cutting off a torn last line if there is one."""
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        payload = "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())

    def compact(self) -> None:
        """Rewrite the file with one line per study (atomically); no-op if nothing is superseded."""
        records = self.read()
        n_lines = sum(1 for line in self.path.read_bytes().split(b"\n") if line.strip()) if self.path.exists() else 0
        if n_lines == len(records):
            return
        from ecamp_bench.atomic import atomic_write_text

        atomic_write_text(self.path, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n"
                                             for r in records.values()))


@dataclass
class DistillSummary:
    """What a distillation run did; ``errors`` holds (study id, message) of failed reports."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def _distill_chunk(
    backend: ContextBackend, chunk: list[tuple[str, str]], summary: DistillSummary
) -> list[ContextRecord]:
    """Distil a chunk; if it fails, retry it report by report so that one bad report fails alone."""
    ids, reports = [c[0] for c in chunk], [c[1] for c in chunk]
    try:
        contexts: list[str | None] = list(backend.distill(reports, ids))
    except BackendUnavailableError:
        raise
    except EcampBenchError as exc:
        if len(chunk) == 1:
            summary.failed += 1
            summary.errors.append((ids[0], str(exc)))
            return []
        contexts = []
        for study_id, report in chunk:
            try:
                contexts.append(backend.distill([report], [study_id])[0])
            except BackendUnavailableError:
                raise
            except EcampBenchError as exc:
                contexts.append(None)
                summary.errors.append((study_id, str(exc)))
    records = []
    for (study_id, report), context in zip(chunk, contexts, strict=True):
        if context is None:
            summary.failed += 1
            continue
        records.append(ContextRecord(study_id, report_sha256(report), backend.name, context))
        summary.done += 1
    return records


def distill_contexts(
    items: Sequence[tuple[str, str]],
    backend: ContextBackend,
    path: str | os.PathLike[str],
    *,
    chunk_size: int = 32,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> DistillSummary:
    """Distil a context for every ``(study_id, report)`` into the context file at ``path``.

    Reports already in the file with the same text hash and backend are skipped (unless ``force``);
    duplicates of a study id are distilled once. Results are appended chunk by chunk, so an interrupted
    run keeps everything finished. ``progress(n)`` is called with the number of items just handled.
    """
    store = ContextStore(path)
    existing = store.read()
    summary = DistillSummary()
    unique = dict(reversed(list(items)))  # first occurrence of a study id wins
    todo = []
    for study_id, report in ((s, unique[s]) for s in dict.fromkeys(s for s, _ in items)):
        known = existing.get(study_id)
        if not force and known and known.report_sha256 == report_sha256(report) and known.backend == backend.name:
            summary.skipped += 1
        else:
            todo.append((study_id, report))
    if progress and summary.skipped:
        progress(summary.skipped)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        store.append(_distill_chunk(backend, chunk, summary))
        if progress:
            progress(len(chunk))
    store.compact()
    return summary


def load_contexts(path: str | os.PathLike[str]) -> dict[str, str]:
    """study id → context string from a context file (empty dict if the file does not exist)."""
    return {study_id: record.context for study_id, record in ContextStore(path).read().items()}
