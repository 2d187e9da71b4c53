"""How many reports' pre-training text the section parser changes, and why, against an earlier revision.

Reads every report text at hand: the official MIMIC-CXR example report, the 3,955 IU X-ray reports (laid out as
MIMIC-CXR writes a report) and the reports of a synthetic MIMIC-CXR tree. Each is parsed as written and with every
header rewritten in title case and in lower case (what hospital exports do), by this checkout's parser and by the
parser of ``--baseline-rev`` (read with ``git show``). Prints, per corpus and header style, how many texts differ
and the reason (findings or impression recovered, fall-back changed), and how each report's text was obtained.

    python benchmarks/report_sections.py --realdata ../shared/realdata --synthetic data/synthetic-small
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import textwrap
import types
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from ecamp_bench.data import reports as current

HEADER_LINE = re.compile(r"^([ \t]*)([A-Z][A-Z ,()/&-]{1,80}?)([ \t]*:)", re.MULTILINE)
STYLES = {"as written": None, "Title case": str.title, "lower case": str.lower}


def baseline_parser(rev: str) -> types.ModuleType:
    """The ``data/reports.py`` of git revision ``rev`` as a module."""
    source = subprocess.run(["git", "show", f"{rev}:ecamp_bench/data/reports.py"], check=True, capture_output=True,
                            text=True).stdout
    module = types.ModuleType(f"reports_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:ecamp_bench/data/reports.py", "exec"), module.__dict__)  # noqa: S102
    return module


def restyle(report: str, style) -> str:
    """``report`` with every upper-case section header of a known name rewritten by ``style`` (``None``: as written;
    a line-initial ``XXXX:`` of de-identified text is left alone)."""
    if style is None:
        return report

    def rewrite(m: re.Match) -> str:
        known = current.normalize_header(m.group(2)) in current.HEADER_VARIANTS
        return m.group(1) + (style(m.group(2)) if known else m.group(2)) + m.group(3)

    return HEADER_LINE.sub(rewrite, report)


def wrap(text: str) -> str:
    """MIMIC-CXR's layout of a paragraph: 76-column lines indented by one space (so any word may open a line)."""
    return "\n".join(" " + line for line in textwrap.wrap(" ".join(text.split()), 76))


def iu_reports(path: Path) -> list[tuple[str, str]]:
    """The IU X-ray reports laid out as MIMIC-CXR files (one-space indent, a blank line between sections)."""
    out = []
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".xml"):
                root = ET.fromstring(archive.extractfile(member).read())
                sections = {a.get("Label"): (a.text or "") for a in root.iter("AbstractText")}
                parts = ["                                 FINAL REPORT"]
                parts += [f" {label}: \n \n{wrap(sections.get(label, ''))}\n " for label in
                          ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")]
                out.append((member.name, "\n".join(parts) + "\n"))
    return out


def reason(old, new) -> str:
    if not old.findings and new.findings:
        return "findings recovered"
    if not old.impression and new.impression:
        return "impression recovered"
    if (old.findings, old.impression) != (new.findings, new.impression):
        return "sections changed"
    return "fall-back changed"


def measure(name: str, corpus: list[tuple[str, str]], baseline: types.ModuleType) -> None:
    for style_name, style in STYLES.items():
        changed, sources, same_as_written = Counter(), Counter(), 0
        for _, written in corpus:
            text = restyle(written, style)
            old, new = baseline.parse_report(text), current.parse_report(text)
            sources[new.source] += 1
            same_as_written += new.text == current.parse_report(written).text
            if old.text != new.text:
                changed[reason(old, new)] += 1
        total = sum(changed.values())
        detail = ", ".join(f"{k} {v}" for k, v in changed.most_common()) or "-"
        print(f"{name:<20} {style_name:<11} {len(corpus):>5} reports | changed vs {baseline.__name__[8:]}: "
              f"{total:>5} ({detail}) | text equal to the as-written parse: {same_as_written} | "
              f"text from: {dict(sources)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdata", type=Path, default=Path("../shared/realdata"))
    parser.add_argument("--synthetic", type=Path, default=None, help="a synthetic data root (any synthetic size)")
    parser.add_argument("--baseline-rev", default="main")
    args = parser.parse_args()
    baseline = baseline_parser(args.baseline_rev)
    example = args.realdata / "mimic-cxr-reports" / "official-example-report.txt"
    measure("official example", [("example", example.read_text(encoding="utf-8"))], baseline)
    measure("IU X-ray", iu_reports(args.realdata / "iu-xray" / "NLMCXR_reports.tgz"), baseline)
    if args.synthetic is not None:
        files = sorted(args.synthetic.rglob("files/p*/p*/s*.txt"))
        measure("synthetic MIMIC-CXR", [(str(p), p.read_text(encoding="utf-8")) for p in files], baseline)


if __name__ == "__main__":
    main()
