"""MIMIC-CXR free-text report parsing: the FINDINGS and IMPRESSION sections.

Reports are headed sections (``EXAMINATION:``, ``INDICATION:``, ``FINDINGS:``, ``IMPRESSION:``, ...),
wrapped at ~78 columns. Pre-training uses FINDINGS + IMPRESSION. When one of them is missing the other is
used alone; when both are missing, a ``CONCLUSION``/``FINDINGS AND IMPRESSION`` style section is used, and
failing that the last paragraph of the report (as the official MIMIC-CXR section parser does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^\s*([A-Z][A-Z &/()-]{2,60}):", re.MULTILINE)
FINDINGS_NAMES = ("FINDINGS",)
IMPRESSION_NAMES = ("IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS", "SUMMARY")
COMBINED_NAMES = ("FINDINGS AND IMPRESSION", "FINDINGS/IMPRESSION", "IMPRESSION AND FINDINGS")


@dataclass(frozen=True)
class ReportSections:
    """The sections of a report that matter for pre-training; empty strings when absent."""

    findings: str
    impression: str
    fallback: str = ""

    @property
    def text(self) -> str:
        """FINDINGS + IMPRESSION joined by a space, or the fallback section when both are empty."""
        joined = " ".join(part for part in (self.findings, self.impression) if part)
        return joined or self.fallback


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_sections(report: str) -> dict[str, str]:
    """Map each upper-case section header (``FINDINGS``, ``IMPRESSION``, ...) to its whitespace-normalised text."""
    sections: dict[str, str] = {}
    matches = list(_HEADER.finditer(report))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(report)
        name = _clean(match.group(1))
        body = _clean(report[match.end() : end])
        sections[name] = f"{sections[name]} {body}".strip() if name in sections else body
    return sections


def parse_report(report: str) -> ReportSections:
    """Extract FINDINGS and IMPRESSION from a MIMIC-CXR report, with the fallbacks described in the module."""
    sections = split_sections(report)
    findings = next((sections[n] for n in FINDINGS_NAMES if sections.get(n)), "")
    impression = next((sections[n] for n in IMPRESSION_NAMES if sections.get(n)), "")
    fallback = ""
    if not findings and not impression:
        fallback = next((sections[n] for n in COMBINED_NAMES if sections.get(n)), "")
        if not fallback:
            paragraphs = [_clean(p) for p in re.split(r"\n\s*\n", report) if _clean(p)]
            paragraphs = [p for p in paragraphs if p.upper() != "FINAL REPORT"]
            last = paragraphs[-1] if paragraphs else ""
            header = _HEADER.match(last)
            fallback = _clean(last[header.end() :]) if header else last
    return ReportSections(findings=findings, impression=impression, fallback=fallback)


def report_text(report: str) -> str:
    """The pre-training text of a report: FINDINGS + IMPRESSION (or the fallback section)."""
    return parse_report(report).text
