"""Claims on sweep cells: a lease file per cell, so workers sharing a results folder split a grid.

A worker that is about to run a cell creates ``<run_key>.claim`` next to the cell's record file with
``O_CREAT | O_EXCL``
(one creator wins, also on NFS ≥ v3) and writes who holds it: ``{"pid", "host", "job_id", "token",
"claimed_at"}``. While the cell runs, a daemon thread touches the file every ``ttl_s / 4`` seconds: the file's
modification time is the heartbeat. The holder deletes the file when the cell ends (its record is then on disk).

A claim is **stale**, and any worker may break it, when its holder is gone:

- on the same host: the holder's pid no longer exists (or is a zombie), or is now another process (its start
  time differs);
- on any host: the heartbeat is older than ``ttl_s`` (the holder's machine died or lost the file system).

Breaking is serialised by a second ``O_EXCL`` file (``<claim>.break``), so two workers never both break a claim
and then both take it. A worker that finds a live claim leaves the cell to its holder and comes back to it later
(:func:`take_turns`); it runs the cell itself only if the holder dies before writing an ``ok`` record.

The lease time comes from ``$ECAMP_BENCH_CLAIM_TTL_S`` (default 300 s). Within a submitit job ``job_id`` is the
scheduler's job id, so a driver that sees its job end can release the job's claims at once (:func:`break_claim`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
TTL_ENV = "ECAMP_BENCH_CLAIM_TTL_S"
DEFAULT_TTL_S = 300.0
BREAK_LOCK_STALE_S = 60.0  # a break takes milliseconds: a .break file this old belongs to a dead breaker


def default_ttl() -> float:
    """The lease time in seconds (``$ECAMP_BENCH_CLAIM_TTL_S``, default 300)."""
    return float(os.environ.get(TTL_ENV, DEFAULT_TTL_S))


def claim_path_for_record(record_file: Path) -> Path:
    """The claim file of the cell whose record is ``<key>.json``: ``<key>.claim`` next to it."""
    return Path(record_file).with_suffix(".claim")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), None if unknown (no /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (field 22 of ``/proc/<pid>/stat``), None if unknown."""
    stat = _proc_stat(pid)
    return stat[19] if stat is not None else None


def _job_id() -> str | None:
    """The scheduler's id of the job this process belongs to (submitit, then SLURM), if any."""
    for name in ("SUBMITIT_LOCAL_JOB_ID", "SLURM_JOB_ID"):
        if os.environ.get(name):
            return os.environ[name]
    return None


@dataclass(frozen=True)
class Holder:
    """Who holds a claim (the content of the claim file) and when it last beat (the file's mtime)."""

    pid: int
    host: str
    token: str
    claimed_at: float
    heartbeat: float
    job_id: str | None = None
    pid_start: str | None = None

    def alive(self, ttl_s: float, now: float | None = None) -> bool:
        """False when the holder is certainly gone (see the module docstring), True otherwise."""
        now = time.time() if now is None else now
        if now - self.heartbeat > ttl_s:
            return False
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass  # another user's process: it exists
            stat = _proc_stat(self.pid)
            if stat is not None and stat[0] in ("Z", "X"):
                return False  # exited, not yet reaped by its parent
            if self.pid_start is not None and stat is not None and stat[19] != self.pid_start:
                return False  # the pid was reused by another process
        return True

    def describe(self) -> str:
        """``pid 123 on node7 (job 456)``."""
        job = f" (job {self.job_id})" if self.job_id else ""
        return f"pid {self.pid} on {self.host}{job}"


def read_holder(path: Path) -> Holder | None:
    """The holder of the claim at ``path``; None when there is no claim file.

    A file that cannot be parsed (its creator died between creating and writing it) counts as a holder with
    pid 0 on no host, alive until its mtime is older than the lease.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
        return Holder(int(obj["pid"]), str(obj["host"]), str(obj["token"]), float(obj["claimed_at"]), mtime,
                      obj.get("job_id"), obj.get("pid_start"))
    except (ValueError, KeyError, TypeError):
        return Holder(0, "", "", mtime, mtime)


class Claim:
    """A held claim: a context manager that keeps the heartbeat going and releases the claim on exit."""

    def __init__(self, path: Path, holder: Holder, ttl_s: float):
        self.path, self.holder, self.ttl_s = Path(path), holder, ttl_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Claim:
        self._thread = threading.Thread(target=self._beat, name=f"claim-heartbeat-{self.path.stem}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def still_mine(self) -> bool:
        """Whether the claim file still names this holder (False after another worker broke it)."""
        current = read_holder(self.path)
        return current is not None and current.token == self.holder.token

    def release(self) -> None:
        """Stop the heartbeat and delete the claim file if it is still ours (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.still_mine():
            self.path.unlink(missing_ok=True)


def _create(path: Path, holder: Holder) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # less the umask, as open() does
    except FileExistsError:
        return False
    content = {"pid": holder.pid, "host": holder.host, "token": holder.token, "claimed_at": holder.claimed_at,
               "job_id": holder.job_id, "pid_start": holder.pid_start}
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(content) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def break_claim(path: Path, *, only_token: str | None = None) -> bool:
    """Delete the claim at ``path`` (only if it still holds ``only_token``, when given), serialised by ``.break``.

    Returns True when this call deleted it. Callers decide that the holder is gone (stale, or its job ended).
    """
    path = Path(path)
    lock = path.with_name(path.name + ".break")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            if time.time() - lock.stat().st_mtime > BREAK_LOCK_STALE_S:
                lock.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        return False
    os.close(fd)
    try:
        holder = read_holder(path)
        if holder is None or (only_token is not None and holder.token != only_token):
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        lock.unlink(missing_ok=True)


def try_claim(path: Path, ttl_s: float | None = None) -> Claim | None:
    """Claim ``path`` for this process, breaking a stale claim; None when a live holder has it.

    Use the result as a context manager (``with claim: run the cell``) so the heartbeat runs and the claim is
    released however the body ends.
    """
    ttl_s = default_ttl() if ttl_s is None else ttl_s
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = Holder(os.getpid(), socket.gethostname(), uuid.uuid4().hex, time.time(), time.time(), _job_id(),
                _process_start(os.getpid()))
    for _ in range(2):  # second try after breaking a stale claim
        if _create(path, me):
            return Claim(path, me, ttl_s)
        holder = read_holder(path)
        if holder is not None and holder.alive(ttl_s):
            return None
        if holder is not None and not break_claim(path, only_token=holder.token):
            return None  # another worker is breaking it right now
    return None


def live_holder(path: Path, ttl_s: float | None = None) -> Holder | None:
    """The holder of ``path`` if it is alive, else None (no claim, or a stale one)."""
    holder = read_holder(path)
    ttl_s = default_ttl() if ttl_s is None else ttl_s
    return holder if holder is not None and holder.alive(ttl_s) else None


def take_turns(
    items: Iterable[T],
    path_of: Callable[[T], Path],
    finished: Callable[[T], bool],
    *,
    ttl_s: float | None = None,
    poll_s: float = 1.0,
    on_wait: Callable[[list[T]], None] | None = None,
) -> Iterator[tuple[T, Claim | None]]:
    """Yield ``(item, claim)`` for each item this worker should run, ``(item, None)`` for items another worker
    finished; items held by a live worker are revisited every ``poll_s`` seconds until one of the two happens.

    The caller runs the item inside ``with claim:``. ``finished`` is checked again after claiming, so an item
    finished just before the claim is not run twice. ``on_wait`` is told which items are waiting on others.
    """
    waiting = list(items)
    while waiting:
        deferred = []
        for item in waiting:
            if finished(item):
                yield item, None
                continue
            claim = try_claim(path_of(item), ttl_s)
            if claim is None:
                deferred.append(item)
                continue
            if finished(item):
                claim.release()
                yield item, None
                continue
            yield item, claim
        waiting = deferred
        if waiting:
            if on_wait is not None:
                on_wait(waiting)
            time.sleep(poll_s)
