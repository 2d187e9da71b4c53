"""A library's log line (mmengine's MMLogger writes WARNING lines to the terminal) goes above the sweep's live
status line, through the display's console, never into it."""

from __future__ import annotations

import io
import logging
import sys

from rich.console import Console

from ecamp_bench.cli.sweep import SweepDisplay


def test_a_library_warning_is_printed_through_the_live_console(monkeypatch):
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)  # what the library's handler is bound to
    logger = logging.getLogger("mmengine-like")
    handler = logging.StreamHandler(sys.stdout)  # bound before the live display starts, as MMLogger's is
    logger.addHandler(handler)
    try:
        display = SweepDisplay("")
        out = io.StringIO()
        display.console = Console(file=out, force_terminal=True, width=100)
        with display.running():
            logger.warning("WARNING - the config has no default_scope")
        assert "the config has no default_scope" in out.getvalue()
        assert captured.getvalue() == ""  # nothing wrote around the live display
        assert handler.stream is captured  # restored afterwards
    finally:
        logger.removeHandler(handler)
