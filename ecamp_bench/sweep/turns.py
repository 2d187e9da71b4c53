"""The order in which one sweep worker runs its pending cells when other workers share the results folder.

:func:`claimed_turns` walks the pending cells of a planned sweep and yields each one either with a held
:class:`~ecamp_bench.sweep.claims.Claim` (this worker runs it) or with ``None`` after another worker finished it
(the cell is then ``done`` with the other worker's value). Cells that a live worker is running are revisited
until their record appears or their holder dies; the observer's phase line says how many are waited on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ecamp_bench.sweep.claims import Claim, claim_path_for_record, take_turns

POLL_S = 1.0


def claimed_turns(results: Sequence, observer) -> Iterator[tuple[object, Claim | None]]:
    """``(CellResult, claim or None)`` for each pending cell of ``results`` (see the module docstring)."""
    from ecamp_bench.results.record import try_read_record
    from ecamp_bench.sweep.runner import CellState

    def finished(result) -> bool:
        record = try_read_record(result.path)
        if record is None or not record.ok:
            return False
        result.state, result.value, result.plan = CellState.DONE, record.primary_value, None
        result.wall_s = record.timing.wall_time_s or 0.0  # the other worker's time
        return True

    def waiting(items: list) -> None:
        if hasattr(observer, "phase"):
            observer.phase = f"waiting for {len(items)} cell(s) that other workers are running"

    pending = [r for r in results if r.state == CellState.PENDING]
    yield from take_turns(pending, lambda r: claim_path_for_record(r.path), finished, poll_s=POLL_S, on_wait=waiting)
