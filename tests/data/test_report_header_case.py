"""Section headers in any case (issue: title-case FINDINGS lost the findings), without taking running text that
contains a colon for a header, and the count of reports parsed by a fall-back (distill and pre-training say it)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from _realdata import realdata

from ecamp_bench.data.reports import ReportParseSummary, parse_report, report_text

FINDINGS = ("Cardiac size cannot be evaluated. Large left pleural effusion is new. Small right effusion is new. "
            "The upper lungs are clear. Right lower lobe opacities are better seen in prior CT. There is no "
            "pneumothorax. There are mild degenerative changes in the thoracic spine")


def _example() -> str:
    return realdata("mimic-cxr-reports", "official-example-report.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("findings", ["FINDINGS", "Findings", "findings", "FINDNGS", "Findngs", "findngs", "Finding",
                                      "FINIDNGS", "Finidngs"])
@pytest.mark.parametrize("impression", ["IMPRESSION", "Impression", "impression", "IMPRESION", "Impresion",
                                        "impressoin", "Conclusion", "conclusion"])
def test_headers_in_upper_title_and_lower_case_with_misspellings(findings, impression):
    text = _example().replace("FINDINGS:", f"{findings}:").replace("IMPRESSION:", f"{impression}:")
    sections = parse_report(text)
    assert (sections.findings, sections.impression) == (FINDINGS, "Large left pleural effusion")
    assert sections.source == "sections"


def test_every_header_of_the_example_in_title_or_lower_case():
    for case in (str.title, str.lower):
        text = _example()
        for header in ("EXAMINATION", "INDICATION", "TECHNIQUE", "COMPARISON", "FINDINGS", "IMPRESSION"):
            text = text.replace(f" {header}:", f" {case(header)}:")
        assert report_text(text) == FINDINGS + " Large left pleural effusion", case


def test_a_sentence_that_contains_a_colon_stays_text():
    # wrapped running text puts "Impression:" / "Findings:" at the start of a line in the middle of a sentence
    report = (" FINDINGS: \n \n The heart size is normal and the overall\n Impression: is that of a mild\n"
              " interstitial process.  Compared with the\n Findings: Of the prior study, unchanged.\n \n"
              " IMPRESSION: \n \n Mild interstitial process.\n")
    sections = parse_report(report)
    assert sections.findings == ("The heart size is normal and the overall Impression: is that of a mild interstitial "
                                 "process. Compared with the Findings: Of the prior study, unchanged.")
    assert sections.impression == "Mild interstitial process."


def test_a_sentence_end_then_a_word_with_a_colon_and_lower_case_text_stays_text():
    report = " FINDINGS:  Lungs are clear.\n Impression: is that of a normal study.\n"
    assert parse_report(report).findings == "Lungs are clear. Impression: is that of a normal study."
    # and a capitalised phrase that merely contains a section name is no header in running text
    report = " FINDINGS: \n \n Chest Comparison: There is a 2.6 cm density.\n IMPRESSION: Nodule.\n"
    assert parse_report(report).findings == "Chest Comparison: There is a 2.6 cm density."


def test_unknown_title_case_words_with_a_colon_stay_text():
    report = " FINDINGS:  Lungs are clear.\n Note: the patient is rotated.\n \n IMPRESSION:  Normal.\n"
    assert report_text(report) == "Lungs are clear. Note: the patient is rotated. Normal."


def test_a_report_in_lower_case_throughout():
    report = "indication: cough.\nfindings: lungs are clear. no effusion.\nimpression: no acute process.\n"
    sections = parse_report(report)
    assert (sections.findings, sections.impression) == ("lungs are clear. no effusion.", "no acute process.")


def test_consecutive_header_lines_without_blank_lines():
    report = "Indication: Cough\nFindings: Clear lungs\nImpression: Normal chest"
    assert report_text(report) == "Clear lungs Normal chest"


@pytest.mark.parametrize(("report", "source", "text"), [
    (" FINDINGS:  Clear.\n", "sections", "Clear."),
    (" INDICATION:  cough\n \n Lungs are clear.\n \n No effusion.\n", "last_paragraph",
     "Lungs are clear. No effusion."),
    (" INDICATION: cough\n COMPARISON:  Since ___ resolved.\n", "comparison", "Since ___ resolved."),
    (" INDICATION: cough\n", "none", ""),
])
def test_the_source_of_the_text_is_recorded(report, source, text):
    sections = parse_report(report)
    assert (sections.source, sections.text) == (source, text)


def test_parse_summary_counts_and_names_the_first_files():
    summary = ReportParseSummary.of([("sections", "a"), ("last_paragraph", "b"), ("none", "c"), ("none", "d"),
                                     ("none", "e"), ("none", "f"), ("sections", "g")])
    assert summary.counts == {"sections": 2, "last_paragraph": 1, "comparison": 0, "none": 4}
    assert (summary.total, summary.unusual) == (7, 5)
    line = summary.describe()
    assert line.startswith("report sections: 2 of 7 from FINDINGS/IMPRESSION")
    assert "1 by the last-paragraph fall-back (e.g. b)" in line
    assert "4 with no findings, impression or fall-back text (e.g. c, d, e)" in line


@pytest.fixture(scope="module")
def mimic_tree(tmp_path_factory) -> Path:
    """A tiny synthetic MIMIC-CXR tree with two reports without headers and one with an indication only."""
    from ecamp_bench_plugins.layouts import mimic_cxr

    root = tmp_path_factory.mktemp("mimic")
    mimic_cxr.write_synthetic(root, 12, seed=0, size=32)
    reports = sorted(root.rglob("files/p*/p*/s*.txt"))
    reports[0].write_text("Lungs are clear.\n\nNo effusion.\n", encoding="utf-8")
    reports[1].write_text(" Findings - the lungs are clear\n \n Impression - normal\n", encoding="utf-8")
    reports[2].write_text(" INDICATION:  cough\n", encoding="utf-8")
    return root


def test_pretraining_logs_how_many_reports_fell_back(mimic_tree, caplog):
    from ecamp_bench.pretrain.config import DataConfig
    from ecamp_bench.pretrain.sources import read_pairs

    names = sorted(p.name for p in mimic_tree.rglob("files/p*/p*/s*.txt"))
    with caplog.at_level(logging.INFO, logger="ecamp_bench"):
        read_pairs(DataConfig(root=mimic_tree, missing_contexts="none", split="train"), mimic_tree)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("report sections:"))
    assert next(r for r in caplog.records if r.getMessage() == line).levelno == logging.WARNING
    assert "by the last-paragraph fall-back" in line or "with no findings" in line
    assert any(name in line for name in names[:3])


def test_distill_prints_the_parse_summary(mimic_tree, tmp_path):
    from typer.testing import CliRunner

    from ecamp_bench.cli import app

    result = CliRunner().invoke(app, ["distill", "--data-root", str(mimic_tree), "--out", str(tmp_path / "c.jsonl")])
    assert result.exit_code == 0, result.output
    assert "report sections:" in result.output
    assert "with no findings, impression or fall-back text" in result.output
