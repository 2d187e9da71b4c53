"""Open the HTML leaderboard in headless Chromium and check that it renders, its images load, and that the
browser logs no console error.

Usage: python scripts/check_report_in_browser.py [results/leaderboard.html] [--screenshot out.png]

Needs Debian's chromium (``apt-get install -y chromium``). The report itself has no scripts; the check
loads a copy with one small script appended that writes, once the page has loaded, the number of tables,
table rows and the ``naturalWidth`` of every image into the page title, which ``--dump-dom`` then prints.
Console messages are read from Chromium's log (``--enable-logging=stderr``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const images = Array.from(document.images).map(i => ({w: i.naturalWidth, h: i.naturalHeight, ok: i.complete}));
  const result = {tables: document.querySelectorAll('table').length,
                  rows: document.querySelectorAll('table tbody tr').length,
                  images: images, errors: window.__errors};
  document.title = 'CHECK:' + JSON.stringify(result);
});
</script>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


@dataclass
class BrowserCheck:
    """What the browser saw: tables, table rows, image sizes, JS errors and console error lines."""

    tables: int = 0
    rows: int = 0
    images: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Why the page does not pass (empty when it does)."""
        out = []
        if self.tables == 0:
            out.append("no <table> rendered")
        broken = [i for i, img in enumerate(self.images) if not img.get("ok") or img.get("w", 0) == 0]
        if broken:
            out.append(f"images not loaded: {broken}")
        out += [f"page error: {e}" for e in self.errors] + [f"console: {e}" for e in self.console_errors]
        return out


def find_chromium() -> str | None:
    """The path of a Chromium binary, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(chromium: str, extra: list[str], url: str, profile: Path, timeout: float) -> subprocess.CompletedProcess:
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def check_report(html: Path, *, chromium: str | None = None, screenshot: Path | None = None,
                 timeout: float = 120) -> BrowserCheck:
    """Load ``html`` in headless Chromium and report what rendered (see :class:`BrowserCheck`)."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install -y chromium)")
    html = Path(html).resolve()
    with tempfile.TemporaryDirectory(prefix="ecamp-browser-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
        proc = _run(chromium, ["--dump-dom", "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000"],
                    probe.as_uri(), Path(tmp) / "profile", timeout)
        match = re.search(r"<title>CHECK:(.*?)</title>", proc.stdout, flags=re.S)
        if match is None:
            raise RuntimeError(f"the probe did not run (chromium exit {proc.returncode}): {proc.stderr[-1500:]}")
        seen = json.loads(match.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
                          .replace("&quot;", '"'))
        console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line]
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            shot = _run(chromium, [f"--screenshot={Path(screenshot).resolve()}", "--window-size=1280,2200",
                                   "--virtual-time-budget=5000"], html.as_uri(), Path(tmp) / "profile2", timeout)
            console += [line for line in shot.stderr.splitlines()
                        if "CONSOLE" in line or "Failed to load resource" in line]
    return BrowserCheck(seen["tables"], seen["rows"], seen["images"], seen["errors"], console)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the check and return 1 when the page has problems, 2 without chromium."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default="results/leaderboard.html", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        result = check_report(args.html, screenshot=args.screenshot)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{i['w']}x{i['h']}" for i in result.images)
    print(f"{args.html}: {result.tables} tables, {result.rows} rows, {len(result.images)} images ({sizes})")
    for problem in result.problems:
        print(f"problem: {problem}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
