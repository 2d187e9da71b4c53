"""Progress of long work: a rich bar on a terminal, plain flushed lines everywhere else (CI, SLURM logs, pipes).

One phase of work (fine-tuning steps, feature batches, dense-training iterations, pre-training steps) is a
:class:`Phase`, opened with :meth:`Progress.bar` and advanced by calling it. Where the stream is a terminal,
the phase is a rich bar (done/total, rate, elapsed, ETA). Where it is not, the phase writes one line such as::

    [rsna-cls 10% finetune: fine-tune (steps)] 300/2000 (15%) 12.3 it/s elapsed 24s ETA 2m18s

when it starts, whenever ``interval`` seconds have passed since its last line as steps finish, while a single
step runs longer than that (a heartbeat thread, so no log is silent for more than ``interval`` seconds), and
when it ends; every line is flushed at once. The interval is ``$ECAMP_BENCH_PROGRESS_INTERVAL`` seconds
(default 30; 0 = a line per step).

:class:`Progress` is the :class:`~ecamp_bench.evaluation.context.ProgressReporter` the CLI gives the
evaluation runner; :func:`phase_progress` gives code that has no reporter (pre-training, the mmengine hook)
the same behaviour.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.progress import ProgressColumn
from rich.text import Text

from ecamp_bench.errors import ConfigError

INTERVAL_ENV = "ECAMP_BENCH_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0


def _clock() -> float:
    """Seconds on a monotonic clock (one name, so a test can replace it)."""
    return time.monotonic()


def interval_s() -> float:
    """Seconds between two plain progress lines: ``$ECAMP_BENCH_PROGRESS_INTERVAL`` (default 30).

    Raises :class:`ConfigError` naming the variable when it is not a number >= 0.
    """
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{INTERVAL_ENV}={raw!r}: expected seconds between progress lines, a number >= 0")
    return value


def format_duration(seconds: float) -> str:
    """``2m18s``, ``1h02m``, ``45s`` (whole seconds, rounded down)."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def format_line(label: str, done: int, total: int | None, elapsed: float, status: str = "",
                rate: float | None = None) -> str:
    """``[label] done/total (pct%) rate it/s elapsed T ETA T [status]`` (no total: no percentage and no ETA).

    ``rate`` (steps per second) defaults to ``done / elapsed``.
    """
    if rate is None:
        rate = done / elapsed if elapsed > 0 else 0.0
    parts = [f"[{label}]", f"{done}/{total}" if total else f"{done}"]
    if total:
        parts.append(f"({100 * done // total}%)")
    parts.append((f"{rate:.0f} it/s" if rate >= 100 else f"{rate:.3g} it/s") if done else "starting")
    parts.append(f"elapsed {format_duration(elapsed)}")
    if total and done and rate > 0:
        parts.append(f"ETA {format_duration((total - done) / rate)}")
    if status:
        parts.append(status)
    return " ".join(parts)


class Phase:
    """One phase of work. Call it (``advance(n=1)``) as steps finish, or :meth:`update` to set the counts.

    In plain mode it writes :func:`format_line` lines to ``stream`` (see the module docstring); with a rich
    ``bar`` it forwards to that bar. Thread-safe: the heartbeat thread and the caller share a lock.
    """

    def __init__(self, label: str, total: int | None, *, stream: IO[str] | None = None, interval: float | None = None,
                 bar: tuple | None = None, heartbeat: bool = True) -> None:
        self.label, self.total, self.done, self.status = label, total, 0, ""
        self._stream, self._bar = stream, bar
        self._interval = interval_s() if interval is None else float(interval)
        self._lock = threading.Lock()
        self._start = self._last = _clock()
        self._base: tuple[float, int] | None = None
        self._stop = threading.Event()
        self._thread = None
        if self._bar is None:
            self._write()
            if heartbeat and self._interval > 0:
                self._thread = threading.Thread(target=self._beat, name=f"progress {label}", daemon=True)
                self._thread.start()

    def __call__(self, n: int = 1) -> None:
        """``n`` more steps are done."""
        self.update(done=self.done + int(n))

    def update(self, done: int | None = None, total: int | None = None, status: str | None = None) -> None:
        """Set the steps done, the total and a status text (losses, learning rate); any may be left as it is."""
        with self._lock:
            if total is not None:
                self.total = int(total)
            if done is not None:
                self.done = int(done)
                if self._base is None:  # the rate counts from the first finished step (not set-up, not resumed steps)
                    self._base = (_clock(), self.done)
            if status is not None:
                self.status = status
            if self._bar is not None:
                progress, task_id = self._bar
                progress.update(task_id, completed=self.done, total=self.total, status=self.status)
            elif _clock() - self._last >= self._interval:
                self._write_locked()

    def close(self) -> None:
        """Stop the heartbeat and write the final line (plain mode)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is None:
            with self._lock:
                self.status = (self.status + " " if self.status else "") + "(end)"
                self._write_locked()

    def _beat(self) -> None:
        while not self._stop.wait(max(self._interval / 4, 0.01)):
            with self._lock:
                if _clock() - self._last >= self._interval:
                    self._write_locked()

    def _write(self) -> None:
        with self._lock:
            self._write_locked()

    def _write_locked(self) -> None:
        now = _clock()
        stream = self._stream if self._stream is not None else sys.stderr
        rate = None
        if self._base is not None and self.done > self._base[1] and now > self._base[0]:
            rate = (self.done - self._base[1]) / (now - self._base[0])
        stream.write(format_line(self.label, self.done, self.total, now - self._start, self.status, rate) + "\n")
        stream.flush()
        self._last = now


class Progress:
    """A :class:`~ecamp_bench.evaluation.context.ProgressReporter`: rich bars when ``stream`` (default stderr)
    is a terminal, plain lines otherwise (``interactive`` forces either). ``prefix`` starts every label."""

    def __init__(self, stream: IO[str] | None = None, *, interactive: bool | None = None, prefix: str = "") -> None:
        self._stream = stream
        self.prefix = prefix
        out = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(out, "isatty", lambda: False)()) if interactive is None else interactive

    def _label(self, description: str) -> str:
        return f"{self.prefix}: {description}" if self.prefix else description

    def with_prefix(self, prefix: str) -> Progress:
        """The same display with ``prefix`` (a run's ``task fraction protocol``) before every label."""
        return Progress(self._stream, interactive=self.interactive, prefix=prefix)

    @contextmanager
    def bar(self, description: str, total: int | None) -> Iterator[Phase]:
        """A phase of ``total`` steps (``None``: unknown); yields the :class:`Phase` (call it to advance)."""
        if not self.interactive:
            phase = Phase(self._label(description), total, stream=self._stream)
            try:
                yield phase
            finally:
                phase.close()
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        console = Console(file=self._stream, stderr=self._stream is None, highlight=False)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
        with RichProgress(*columns, console=console, transient=True) as progress:
            task_id = progress.add_task(self._label(description), total=total, status="")
            yield Phase(self._label(description), total, bar=(progress, task_id))

    def log(self, message: str) -> None:
        """One informational line (flushed)."""
        out = self._stream if self._stream is not None else sys.stderr
        if self.interactive:
            from rich.console import Console

            Console(file=out, highlight=False).print(f"[dim]{message}[/]", soft_wrap=True)
        else:
            out.write(message + "\n")
            out.flush()


class RateColumn(ProgressColumn):
    """A rich column: steps per second of the task (``?`` before the first)."""

    def render(self, task) -> Text:
        """The rate text of ``task``."""
        speed = task.finished_speed or task.speed
        return Text("? it/s" if speed is None else f"{speed:.3g} it/s")


@contextmanager
def phase_progress(description: str, total: int | None, progress: Progress | None = None,
                   enabled: bool = True) -> Iterator[Callable[..., None] | Phase]:
    """A :class:`Phase` of ``progress`` (default: a new :class:`Progress` on stderr); a no-op when not ``enabled``
    (e.g. on every rank but the first of a DDP job)."""
    if not enabled:
        yield _NullPhase()
        return
    with (progress or Progress()).bar(description, total) as phase:
        yield phase


def counts_progress(label: str, progress: Progress | None = None) -> Callable[[str, int, int], None]:
    """A ``report(part, done, total)`` callback (the synthetic data generator's) that shows one phase per part,
    ``[label part] done/total ...``; a phase ends when ``done`` reaches ``total``."""
    display = progress or Progress(interactive=False)
    phases: dict[str, Phase] = {}

    def report(part: str, done: int, total: int) -> None:
        phase = phases.get(part)
        if phase is None:
            phase = phases[part] = Phase(f"{display._label(label)} {part}", total, stream=display._stream,
                                         heartbeat=False)
        phase.update(done=done, total=total)
        if total and done >= total:
            phase.close()

    return report


class _NullPhase:
    def __call__(self, n: int = 1) -> None:
        pass

    def update(self, done: int | None = None, total: int | None = None, status: str | None = None) -> None:
        pass


__all__ = [
    "DEFAULT_INTERVAL_S", "INTERVAL_ENV", "Phase", "Progress", "RateColumn", "format_duration", "format_line",
    "counts_progress", "interval_s", "phase_progress",
]
