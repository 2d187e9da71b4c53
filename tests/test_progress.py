"""Plain progress lines (no terminal): at least one every interval, flushed, with rate and ETA."""

from __future__ import annotations

import io
import re
import time

import pytest

from ecamp_bench import progress as progress_mod
from ecamp_bench.errors import ConfigError
from ecamp_bench.progress import Phase, Progress, format_line, interval_s

LINE = re.compile(r"^\[(?P<label>[^\]]+)\] (?P<done>\d+)/(?P<total>\d+) \(\d+%\) .*elapsed (?P<elapsed>\S+)")


def seconds(text: str) -> int:
    """``2m18s`` → 138."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return 3600 * h + 60 * mi + s


class FakeClock:
    """A clock that moves only when the test says (``tick``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_format_line_names_the_phase_with_rate_and_eta():
    assert format_line("finetune rsna-cls 10%", 300, 2000, 24.4) == \
        "[finetune rsna-cls 10%] 300/2000 (15%) 12.3 it/s elapsed 24s ETA 2m18s"
    assert format_line("x", 0, None, 3.0) == "[x] 0 starting elapsed 3s"


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("ECAMP_BENCH_PROGRESS_INTERVAL", raising=False)
    assert interval_s() == 30.0
    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "2.5")
    assert interval_s() == 2.5
    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="ECAMP_BENCH_PROGRESS_INTERVAL='soon'"):
        interval_s()


def test_plain_lines_come_at_least_every_interval_on_a_fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress_mod, "_clock", clock)
    out = io.StringIO()
    with Progress(out).bar("steps", 100) as advance:
        for _ in range(100):
            clock.now += 7.0  # a step takes 7 s
            advance()
    lines = out.getvalue().splitlines()
    times = [seconds(LINE.match(line)["elapsed"]) for line in lines]
    assert lines[0].startswith("[steps] 0/100 (0%) starting") and lines[-1].endswith("(end)")
    assert "100/100 (100%)" in lines[-1]
    assert max(b - a for a, b in zip(times, times[1:])) <= 30 + 7
    assert 10 < len(lines) < 40  # not a line per step either


def test_the_heartbeat_writes_while_one_step_takes_longer_than_the_interval():
    out = io.StringIO()
    phase = Phase("slow step", 2, stream=out, interval=0.05)
    time.sleep(0.5)  # one step that runs ten intervals
    phase()
    phase.close()
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("[slow step] 0/2 (0%)") for line in lines) >= 2, lines  # the start + heartbeats


def test_a_terminal_gets_a_rich_bar_and_no_plain_lines():
    out = io.StringIO()
    display = Progress(out, interactive=True)
    with display.bar("steps", 3) as advance:
        for _ in range(3):
            advance()
    assert not LINE.search(out.getvalue())


@pytest.mark.slow
def test_eval_finetune_without_a_terminal_prints_a_progress_line_per_interval(synthetic_tiny, capsys, monkeypatch):
    from _backbones import export_tiny_backbone, finetune_eval_args
    from ecamp_bench.cli import main

    export_tiny_backbone()
    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "0")  # a line at every step (the default is every 30 s)
    assert main([*finetune_eval_args(synthetic_tiny), "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    steps = [LINE.match(line) for line in err if line.startswith("[rsna-cls 100% finetune seed 0: fine-tune")]
    assert [int(m["done"]) for m in steps if m] == [0, 1, 2, 3, 4, 4], err
    assert all(m["total"] == "4" for m in steps)
    assert all(" it/s " in line for line in err if "fine-tune" in line and "starting" not in line)


def test_counts_progress_shows_one_phase_per_part(monkeypatch):
    from ecamp_bench.progress import counts_progress

    monkeypatch.setenv("ECAMP_BENCH_PROGRESS_INTERVAL", "0")
    out = io.StringIO()
    report = counts_progress("generating:", Progress(out))
    for part, total in (("chexpert", 2), ("rsna", 1)):
        for done in range(total + 1):
            report(part, done, total)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[generating: chexpert"] * 5 + ["[generating: rsna"] * 4
    assert lines[4].startswith("[generating: chexpert] 2/2 (100%)") and lines[4].endswith("(end)")
