"""MIMIC-CXR free-text report parsing: which sections feed pre-training.

Reports are headed sections (``EXAMINATION:``, ``INDICATION:``, ``FINDINGS:``, ``IMPRESSION:``, ...), wrapped
at ~78 columns, each line indented by one space. We follow the conventions of the official MIMIC-CXR section
splitting (MIT-LCP/mimic-cxr, ``txt/section_parser.py`` and ``txt/create_section_files.py``), re-implemented here:

* **Headers.** An upper-case phrase (letters, spaces and ``, ( ) / & -``) that starts a line and ends in a colon.
  Text before the first header is the preamble (``FINAL REPORT``) and never feeds pre-training.
* **Normalisation** (:func:`normalize_header`), in this order: (1) the frequent variants of the real reports map to
  one canonical name (``COMPARISONS`` → comparison, ``CLINICAL HISTORY`` → history, ``REASON FOR EXAM`` →
  indication, ``CONCLUSION`` and ``FINDINGS AND IMPRESSION`` → impression, ``CHEST, TWO VIEWS`` → findings, ...);
  (2) a header within two edits (Damerau-Levenshtein) of one canonical single-word name is that name, which covers
  the misspellings of the real reports (``FINDNGS``, ``IMPRESION``, ``IMPRESSOIN``, ``COMPARISION``, ...) and
  those nobody has listed yet; (3) a header that contains a main name (impression, findings, history, comparison,
  addendum) is that name (``REFERENCE FINDINGS``, ``PRELIMINARY IMPRESSION``); (4) a header that names the views
  of a chest film (``PA AND LATERAL VIEWS OF THE CHEST``, ``PORTABLE AP``, ``FRONTAL AND LATERAL``) introduces the
  findings. Anything else keeps its lower-cased name.
* **Empty sections.** An empty findings or impression section (e.g. a view title followed by ``INDICATION:``) is
  dropped.
* **Pre-training text** (:attr:`ReportSections.text`): FINDINGS + IMPRESSION, each the *last* non-empty section of
  that name (as the official files take the last one), joined by a space. When a report has neither, the
  official fall-backs in order: the ``last_paragraph`` (the text after the first paragraph of the report's last
  section: many short reports are one header followed by a few paragraphs), then the last COMPARISON section
  (where some radiologists wrote the whole report).

Paragraphs are separated by a blank line (a line holding only whitespace). Section texts are
whitespace-normalised (runs of spaces and line breaks become one space).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z ,()/&-]{1,80}?)[ \t]*:(?=\s|$)", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")

#: Canonical name → the header variants of the real reports that mean it (lower case, single spaces).
HEADER_VARIANTS: dict[str, tuple[str, ...]] = {
    "impression": ("impression", "impressions", "conclusion", "conclusions", "findings and impression",
                   "findings/impression", "findings / impression", "impression and findings", "summary"),
    "findings": ("findings", "finding", "chest, two views", "reference findings"),
    "comparison": ("comparison", "comparisons", "reference exam", "comparison exam", "comparison film",
                   "comparison study"),
    "indication": ("indication", "indications", "reason for examination", "reason for exam", "clinical indication",
                   "reason"),
    "history": ("history", "clinical history", "clinical information", "patient history", "pfi"),
    "examination": ("examination", "exam", "type of examination", "type of exam", "study"),
    "technique": ("technique",),
    "notification": ("notification",),
    "recommendations": ("recommendation", "recommendations", "recommendation(s)"),
    "addendum": ("addendum",),
    "wet read": ("wet read", "wetread"),
    "comment": ("comment", "comments"),
}
_VARIANT_TO_NAME = {variant: name for name, variants in HEADER_VARIANTS.items() for variant in variants}
_SPELLING_TARGETS = ("impression", "findings", "indication", "comparison", "conclusion", "examination",
                     "technique", "notification", "history")
_MAIN_NAMES = ("impression", "findings", "history", "comparison", "addendum")
_VIEW_PHRASES = re.compile(
    r"\b(chest|portable|pa and lat|lateral and pa|ap and lat|lateral and ap|frontal and|two views|frontal view|"
    r"pa view|ap view|one view|single view|lateral view|bone window|frontal upright|frontal semi-upright|ribs)")


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count 1), or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def normalize_header(header: str) -> str:
    """The canonical section name of a header (without its colon), by the rules in the module docstring."""
    name = re.sub(r"\s+", " ", header).strip().lower()
    if name in _VARIANT_TO_NAME:
        return _VARIANT_TO_NAME[name]
    if " " not in name and len(name) >= 6:
        close = [t for t in _SPELLING_TARGETS if _edit_distance(name, t, 2) <= 2]
        if len(close) == 1:
            return _VARIANT_TO_NAME[close[0]]
    for main in _MAIN_NAMES:
        if main in name:
            return main
    if _VIEW_PHRASES.search(name):
        return "findings"
    return name


@dataclass(frozen=True)
class Section:
    """One headed section: ``name`` canonical, ``header`` as written, ``text`` whitespace-normalised."""

    name: str
    header: str
    text: str


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


def _last_paragraph(raw_section: str) -> str:
    """The official ``last_paragraph``: a section's text after its first paragraph (empty for one paragraph)."""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(raw_section.strip("\n")) if p.strip()]
    return _clean(" ".join(paragraphs[1:]))


def section_list(report: str) -> tuple[list[Section], str]:
    """The report's headed sections in order (empty findings/impression dropped) and the raw text of the last one.

    The preamble (text before the first header) is the section ``preamble``; a report with no header at all is
    one section ``full report``.
    """
    matches = list(_HEADER.finditer(report))
    if not matches:
        return [Section("full report", "", _clean(report))], report
    sections = [Section("preamble", "", _clean(report[: matches[0].start()]))]
    raw = report
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(report)
        raw = report[match.end(): end]
        sections.append(Section(normalize_header(match.group(1)), _clean(match.group(1)), _clean(raw)))
    kept = [s for s in sections if s.text or s.name not in ("findings", "impression")]
    return kept, raw


def split_sections(report: str) -> dict[str, str]:
    """Canonical section name → its text (repeated sections joined in order); see :func:`section_list`."""
    joined: dict[str, str] = {}
    for section in section_list(report)[0]:
        joined[section.name] = f"{joined[section.name]} {section.text}".strip() if section.name in joined \
            else section.text
    return joined


def parse_report(report: str) -> ReportSections:
    """FINDINGS, IMPRESSION and the official fall-back of a MIMIC-CXR report (rules in the module docstring)."""
    sections, last_raw = section_list(report)

    def last(name: str) -> str:
        return next((s.text for s in reversed(sections) if s.name == name and s.text), "")

    findings, impression = last("findings"), last("impression")
    fallback = ""
    if not findings and not impression:
        fallback = _last_paragraph(last_raw) or last("comparison")
    return ReportSections(findings=findings, impression=impression, fallback=fallback)


def report_text(report: str) -> str:
    """The pre-training text of a report: FINDINGS + IMPRESSION (or the official fall-back)."""
    return parse_report(report).text
