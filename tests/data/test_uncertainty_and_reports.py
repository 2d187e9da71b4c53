"""CheXpert uncertainty policy and MIMIC report section parsing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ecamp_bench_plugins.layouts.chexpert import apply_uncertainty_policy
from ecamp_bench.data.reports import parse_report, report_text
from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.errors import ConfigError

NAN = math.nan


def _table():
    labels = {"Atelectasis": -1.0, "Cardiomegaly": -1.0, "Consolidation": NAN, "Edema": 1.0, "Pleural Effusion": 0.0,
              "Pneumonia": -1.0}
    return SampleTable("chexpert", Path("."),
                       (Sample(image_id="a", image_path=Path("a.jpg"), patient_id="p", labels=labels),))


def test_default_policy_is_u_ones_and_u_zeros_with_blanks_zero():
    labels = apply_uncertainty_policy(_table())[0].labels
    assert labels["Atelectasis"] == 1.0 and labels["Cardiomegaly"] == 0.0
    assert labels["Consolidation"] == 0.0 and labels["Edema"] == 1.0 and labels["Pleural Effusion"] == 0.0
    assert labels["Pneumonia"] == -1.0  # not in the policy: untouched


def test_custom_policy_ignore_and_bad_policy():
    labels = apply_uncertainty_policy(_table(), {"Atelectasis": "ignore", "Cardiomegaly": "ones"})[0].labels
    assert math.isnan(labels["Atelectasis"]) and labels["Cardiomegaly"] == 1.0
    assert math.isnan(labels["Consolidation"])  # not in this policy
    with pytest.raises(ConfigError, match="maybe"):
        apply_uncertainty_policy(_table(), {"Edema": "maybe"})
    with pytest.raises(ConfigError, match="Edemaa"):
        apply_uncertainty_policy(_table(), {"Edemaa": "ones"})


REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)
 
 INDICATION:  ___F with cough
 
 FINDINGS: 
 
 There is no focal consolidation, pleural effusion or pneumothorax.  The
 cardiomediastinal silhouette is normal.
 
 IMPRESSION: 
 
 No acute cardiopulmonary process.
"""


def test_findings_and_impression_are_extracted_and_joined():
    sections = parse_report(REPORT)
    assert sections.findings == ("There is no focal consolidation, pleural effusion or pneumothorax. The "
                                 "cardiomediastinal silhouette is normal.")
    assert sections.impression == "No acute cardiopulmonary process."
    assert report_text(REPORT) == sections.findings + " " + sections.impression


def test_fallbacks_when_sections_are_missing():
    only_impression = REPORT.split(" FINDINGS:")[0] + " IMPRESSION: \n Small left effusion.\n"
    assert report_text(only_impression) == "Small left effusion."
    no_sections = "                 FINAL REPORT\n INDICATION:  cough\n \n Lungs are clear.  No effusion.\n"
    assert report_text(no_sections) == "Lungs are clear. No effusion."
    conclusion = " EXAMINATION: CHEST\n CONCLUSION: Mild edema.\n"
    assert report_text(conclusion) == "Mild edema."
