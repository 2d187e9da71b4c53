"""The job ledger: which submitit jobs ran (or run) each cell, kept in the results folder.

One JSON file per cell, ``<results>/jobs/<run_key>.json``: ``{"cell": label, "record": path, "jobs": [{job_id,
executor, folder, host, attempt, submitted_at}, ...]}`` (newest last), written atomically by the driver that
submitted. ``sweep --status`` and a driver resumed after its predecessor was killed read it to ask the scheduler
about jobs they did not submit themselves.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ecamp_bench.atomic import atomic_write_text


@dataclass(frozen=True)
class JobEntry:
    """One submission of a cell."""

    job_id: str
    executor: str
    folder: str
    host: str
    attempt: int
    submitted_at: float

    def state(self) -> str:
        """The scheduler's state of this job now (see :func:`ecamp_bench.cluster.job_state`)."""
        from ecamp_bench.cluster import job_state

        return job_state(self.executor, Path(self.folder), self.job_id, self.host)

    @property
    def log(self) -> Path:
        """The job's stdout log (submitit's ``<folder>/<id>_0_log.out``)."""
        from submitit.core.utils import JobPaths

        return JobPaths(self.folder, job_id=self.job_id).stdout


def ledger_path(record_file: Path) -> Path:
    """``<results>/jobs/<run_key>.json`` for the record ``<results>/runs/<task>/<backbone>/<run_key>.json``."""
    record_file = Path(record_file)
    results = record_file.parents[3] if record_file.parents[2].name == "runs" else record_file.parent
    return results / "jobs" / f"{record_file.stem}.json"


def read_entries(record_file: Path) -> list[JobEntry]:
    """Every submission of the cell, oldest first (``[]`` when it was never submitted or the file is unreadable)."""
    try:
        obj = json.loads(ledger_path(record_file).read_text(encoding="utf-8"))
        return [JobEntry(**entry) for entry in obj["jobs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def add_entry(record_file: Path, label: str, *, job_id: str, executor: str, folder: Path, attempt: int) -> JobEntry:
    """Append a submission to the cell's ledger file (atomic rewrite) and return it."""
    entry = JobEntry(str(job_id), executor, str(folder), socket.gethostname(), int(attempt), time.time())
    entries = [*read_entries(record_file), entry]
    document = {"cell": label, "record": str(record_file), "jobs": [asdict(e) for e in entries]}
    atomic_write_text(ledger_path(record_file), json.dumps(document, indent=1) + "\n")
    return entry
