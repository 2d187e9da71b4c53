"""MIMIC-CXR free-text report parsing: which sections feed pre-training.

Reports are headed sections (``EXAMINATION:``, ``INDICATION:``, ``FINDINGS:``, ``IMPRESSION:``, ...), wrapped
at ~78 columns, each line indented by one space. We follow the conventions of the official MIMIC-CXR section
splitting (MIT-LCP/mimic-cxr, ``txt/section_parser.py`` and ``txt/create_section_files.py``), re-implemented here:

* **Headers.** An upper-case phrase (letters, spaces and ``, ( ) / & -``) that starts a line and ends in a colon.
  Text before the first header is the preamble (``FINAL REPORT``) and never feeds pre-training.
* **Headers in title or lower case** (``Findings:``, ``impression:``; exports of hospital systems, and a share of
  the real MIMIC-CXR headers) count only where a header can stand, so that running text that happens to wrap
  before a word and a colon stays text (:func:`_is_cased_header`): (1) the phrase is a variant of
  :data:`HEADER_VARIANTS` or within two edits of a single-word name (not merely containing one: an IU X-ray
  finding opens with ``Chest Comparison: There is a 2.6 cm ...``);
  (2) it opens a paragraph (the line before it is blank, the report's start, or a header line with nothing after
  its colon); or (3) the line before it ends a sentence (``.``, ``!``, ``?``, ``:``) or is a header line with
  text, and what follows the colon on its own line is nothing or does not start with a lower-case letter (unless
  the header itself is all lower case: a report written in lower case throughout). ``Impression: is that ...``
  inside a wrapped paragraph fails (2) and (3) and stays text.
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
  (where some radiologists wrote the whole report). :attr:`ReportSections.source` says which rule gave the text,
  and :class:`ReportParseSummary` counts them over a corpus, so that a badly parsed corpus shows.

Paragraphs are separated by a blank line (a line holding only whitespace). Section texts are
whitespace-normalised (runs of spaces and line breaks become one space).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ecamp_bench.data.samples import Sample

# A header candidate in any case; upper-case ones are headers, the others pass :func:`_is_cased_header` first.
_HEADER = re.compile(r"^[ \t]*([A-Za-z][A-Za-z ,()/&-]{1,80}?)[ \t]*:(?=\s|$)", re.MULTILINE)
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


def _spelled_name(name: str) -> str | None:
    """The canonical name of a lower-cased, space-normalised header by rules (1)-(2), or None."""
    if name in _VARIANT_TO_NAME:
        return _VARIANT_TO_NAME[name]
    if " " not in name and len(name) >= 6:
        close = [t for t in _SPELLING_TARGETS if _edit_distance(name, t, 2) <= 2]
        if len(close) == 1:
            return _VARIANT_TO_NAME[close[0]]
    return None


def normalize_header(header: str) -> str:
    """The canonical section name of a header (without its colon), by the rules in the module docstring."""
    name = re.sub(r"\s+", " ", header).strip().lower()
    known = _spelled_name(name) or next((main for main in _MAIN_NAMES if main in name), None)
    if known is not None:
        return known
    if _VIEW_PHRASES.search(name):
        return "findings"
    return name


def _is_known_header(phrase: str) -> bool:
    """Whether ``phrase`` (a header without its colon, any case) is a variant of a known section name or within
    two edits of one (``Chest Comparison`` is not: in running text a capitalised phrase often ends in one)."""
    return _spelled_name(re.sub(r"\s+", " ", phrase).strip().lower()) is not None


_SENTENCE_END = (".", "!", "?", ":")


def _is_cased_header(report: str, match: re.Match) -> bool:
    """Whether a header candidate that is not in upper case is a header (rules in the module docstring).

    ``match`` is a :data:`_HEADER` match in ``report``; it starts at the beginning of its line.
    """
    phrase = match.group(1)
    if not _is_known_header(phrase):
        return False
    before = report[: match.start()].rstrip("\n")
    previous = before.rsplit("\n", 1)[-1].strip()
    head = _HEADER.match(previous)
    previous_is_header = head is not None and _is_known_header(head.group(1))
    if not before.strip() or not previous or (previous_is_header and not previous[head.end():].strip()):
        return True  # a new paragraph, or the line under a header line
    if not (previous.endswith(_SENTENCE_END) or previous_is_header):
        return False  # inside a wrapped sentence
    rest = report[match.end():].split("\n", 1)[0].strip()
    return not rest or not rest[0].islower() or phrase.islower()


def _headers(report: str) -> list[re.Match]:
    """The header matches of ``report`` in order: every upper-case candidate, and the others that pass
    :func:`_is_cased_header`."""
    return [m for m in _HEADER.finditer(report) if m.group(1).isupper() or _is_cased_header(report, m)]


@dataclass(frozen=True)
class Section:
    """One headed section: ``name`` canonical, ``header`` as written, ``text`` whitespace-normalised."""

    name: str
    header: str
    text: str


#: Which rule gave a report's pre-training text: its FINDINGS/IMPRESSION sections, the last-paragraph fall-back,
#: the COMPARISON fall-back, or nothing at all (empty text).
TextSource = Literal["sections", "last_paragraph", "comparison", "none"]


@dataclass(frozen=True)
class ReportSections:
    """The sections of a report that matter for pre-training; empty strings when absent.

    ``source`` says which rule gave :attr:`text` (:data:`TextSource`).
    """

    findings: str
    impression: str
    fallback: str = ""
    source: TextSource = "sections"

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
    matches = _headers(report)
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
    if findings or impression:
        return ReportSections(findings=findings, impression=impression)
    if paragraph := _last_paragraph(last_raw):
        return ReportSections("", "", fallback=paragraph, source="last_paragraph")
    if comparison := last("comparison"):
        return ReportSections("", "", fallback=comparison, source="comparison")
    return ReportSections("", "", source="none")


def report_text(report: str) -> str:
    """The pre-training text of a report: FINDINGS + IMPRESSION (or the official fall-back)."""
    return parse_report(report).text


@dataclass
class ReportParseSummary:
    """How a corpus's reports were parsed: counts per :data:`TextSource` and the first few files of each
    source other than ``sections`` (a corpus whose headers the parser misses shows as many fall-backs)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("sections", "last_paragraph",
                                                                          "comparison", "none"), 0))
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3

    def add(self, source: str, where: str) -> None:
        """Count one report parsed by ``source``; ``where`` (its path or id) is kept among the first few."""
        self.counts[source] = self.counts.get(source, 0) + 1
        if source != "sections" and len(kept := self.examples.setdefault(source, [])) < self.max_examples:
            kept.append(where)

    @classmethod
    def of(cls, items: Iterable[tuple[str, str]]) -> ReportParseSummary:
        """The summary of ``(source, where)`` pairs."""
        summary = cls()
        for source, where in items:
            summary.add(source, where)
        return summary

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unusual(self) -> int:
        """Reports whose text did not come from FINDINGS/IMPRESSION (a fall-back, or no text)."""
        return self.total - self.counts.get("sections", 0)

    def describe(self) -> str:
        """One line, e.g. ``report sections: 980 of 1000 from FINDINGS/IMPRESSION; 15 by the last-paragraph
        fall-back (e.g. a.txt, b.txt); 5 with no text (e.g. c.txt)``."""
        words = {"last_paragraph": "by the last-paragraph fall-back", "comparison": "by the COMPARISON fall-back",
                 "none": "with no findings, impression or fall-back text"}
        parts = [f"report sections: {self.counts.get('sections', 0)} of {self.total} from FINDINGS/IMPRESSION"]
        for source, text in words.items():
            if self.counts.get(source):
                parts.append(f"{self.counts[source]} {text} (e.g. {', '.join(self.examples.get(source, []))})")
        return "; ".join(parts)


def report_parse_summary(samples: Iterable[Sample]) -> ReportParseSummary:
    """How the reports of ``samples`` were parsed (one count per study; see :class:`ReportParseSummary`).

    Counts the samples whose layout reader recorded ``meta["report_source"]`` (:attr:`ReportSections.source`) and
    ``meta["report_path"]``, as the MIMIC-CXR reader does; a table of another layout gives an empty summary.
    """
    seen: dict[str, tuple[str, str]] = {}
    for sample in samples:
        if "report_source" in sample.meta and sample.study_id not in seen:
            seen[sample.study_id] = (sample.meta["report_source"], sample.meta["report_path"])
    return ReportParseSummary.of(seen.values())
