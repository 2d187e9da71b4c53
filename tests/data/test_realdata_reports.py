"""MIMIC-CXR section splitting on real reports: the official example report, its header variants, and the
3,955 IU X-ray reports (read from the tgz, never extracted)."""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET

import pytest
from _realdata import realdata

from ecamp_bench.data.reports import normalize_header, parse_report, report_text

EXAMPLE_FINDINGS = ("Cardiac size cannot be evaluated. Large left pleural effusion is new. "
                    "Small right effusion is new. The upper lungs are clear. Right lower lobe opacities are better "
                    "seen in prior CT. There is no pneumothorax. There are mild degenerative changes in the thoracic "
                    "spine")


def _example() -> str:
    return realdata("mimic-cxr-reports", "official-example-report.txt").read_text(encoding="utf-8")


def test_official_example_report():
    sections = parse_report(_example())
    assert sections.findings == EXAMPLE_FINDINGS
    assert sections.impression == "Large left pleural effusion"
    assert report_text(_example()) == EXAMPLE_FINDINGS + " Large left pleural effusion"


@pytest.mark.parametrize("findings_header", ["CHEST, TWO VIEWS:", "PA AND LATERAL VIEWS OF THE CHEST:", "FINDNGS:",
                                             "FINDINGS:", "FINDING:", "FINIDNGS:", "Findings:", "PORTABLE AP CHEST:",
                                             "REFERENCE FINDINGS:", "CHEST PA AND LAT:"])
@pytest.mark.parametrize("impression_header", ["IMPRESSION:", "IMPRESION:", "IMPRESSOIN:", "CONCLUSION:",
                                               "IMPRESSIONS:", "PRELIMINARY IMPRESSION:"])
def test_header_variants_of_the_example_report(findings_header, impression_header):
    text = _example().replace("FINDINGS:", findings_header).replace("IMPRESSION:", impression_header)
    sections = parse_report(text)
    assert sections.findings == EXAMPLE_FINDINGS
    assert sections.impression == "Large left pleural effusion"


@pytest.mark.parametrize(("header", "name"), [
    ("CHEST, TWO VIEWS", "findings"), ("FINDNGS", "findings"), ("FINDINDGS", "findings"), ("IMPRESION", "impression"),
    ("IMPESSION", "impression"), ("MPRESSION", "impression"), ("FINDINGS AND IMPRESSION", "impression"),
    ("FINDINGS/IMPRESSION", "impression"), ("COMPARISION", "comparison"), ("COMPARISONS", "comparison"),
    ("CLINICAL HISTORY", "history"), ("REASON FOR EXAM", "indication"), ("IDICATION", "indication"),
    ("EXAM", "examination"), ("RECOMMENDATION(S)", "recommendations"), ("WET READ", "wet read"),
    ("TECHNIQUE", "technique"), ("NOTE", "note"), ("LATERAL AND PA", "findings"), ("PORTABLE", "findings"),
])
def test_normalize_header(header, name):
    assert normalize_header(header) == name


def test_empty_view_title_is_dropped_and_the_real_findings_kept():
    report = (" CHEST, PA LATERAL:\n \n INDICATION:  cough\n \n FINDINGS:  Lungs are clear.\n \n"
              " IMPRESSION:  Normal.\n")
    assert report_text(report) == "Lungs are clear. Normal."


def test_fallbacks_last_paragraph_then_comparison():
    no_findings = "                 FINAL REPORT\n INDICATION:  cough\n \n Lungs are clear.\n \n No effusion.\n"
    assert report_text(no_findings) == "Lungs are clear. No effusion."
    only_comparison = " INDICATION: cough\n COMPARISON:  Since ___ the effusion has resolved.\n"
    assert report_text(only_comparison) == "Since ___ the effusion has resolved."
    no_headers = "Lungs are clear.\n \nNo effusion.\n"
    assert report_text(no_headers) == "No effusion."
    assert report_text(" INDICATION: cough\n") == ""


def _iu_reports():
    with tarfile.open(realdata("iu-xray", "NLMCXR_reports.tgz")) as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".xml"):
                root = ET.fromstring(archive.extractfile(member).read())
                yield member.name, {a.get("Label"): (a.text or "") for a in root.iter("AbstractText")}


def _as_mimic_report(sections: dict[str, str], case=str.upper) -> str:
    """Lay an IU report out as MIMIC-CXR writes one (one-space indent, blank line between sections), with the
    headers in ``case``."""
    parts = ["                                 FINAL REPORT"]
    for label in ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION"):
        parts.append(f" {case(label)}:  {sections.get(label, '')}\n ")
    return "\n".join(parts) + "\n"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_every_iu_xray_report_with_findings_or_impression_yields_its_text():
    n_reports = n_with_text = 0
    for name, sections in _iu_reports():
        n_reports += 1
        findings, impression = _clean(sections.get("FINDINGS", "")), _clean(sections.get("IMPRESSION", ""))
        if not (findings or impression):
            continue
        n_with_text += 1
        parsed = parse_report(_as_mimic_report(sections))
        assert (parsed.findings, parsed.impression) == (findings, impression), name
        assert parsed.text == " ".join(p for p in (findings, impression) if p), name
        # the same report with its headers misspelt or replaced by a view title reads the same
        variant = re.sub(r"^ FINDINGS:", " PA AND LATERAL VIEWS OF THE CHEST:", _as_mimic_report(sections), flags=re.M)
        variant = re.sub(r"^ IMPRESSION:", " IMPRESION:", variant, flags=re.M)
        assert parse_report(variant).text == parsed.text, name
        # and with the headers in title or lower case, as hospital exports write them
        for case in (str.title, str.lower):
            assert parse_report(_as_mimic_report(sections, case)).text == parsed.text, (name, case)
    assert n_reports == 3955
    assert n_with_text == 3927
