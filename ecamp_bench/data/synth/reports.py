"""Radiology report writing for synthetic cases, with CheXpert-labeler-style labels that match the text.

Every positive finding is described with its side, zone and severity (several templates and synonyms);
absent findings are negated the way radiologists do ("No pleural effusion or pneumothorax.", "There is no
evidence of ..."); mild opacities are sometimes reported with uncertainty ("cannot exclude pneumonia").
The labels follow the text: 1.0 stated, 0.0 negated, -1.0 uncertain, NaN not mentioned.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np

from ecamp_bench.data.synth.findings import Finding

OBSERVATIONS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
    "Fracture", "Support Devices",
)
LOBES = {("right", "upper"): "right upper lobe", ("right", "middle"): "right middle lobe",
         ("right", "lower"): "right lower lobe", ("left", "upper"): "left upper lobe",
         ("left", "middle"): "lingula", ("left", "lower"): "left lower lobe"}
SEVERITY_WORDS = {"mild": ("mild", "small", "subtle"), "moderate": ("moderate", "moderate-sized"),
                  "severe": ("large", "extensive", "severe")}
SIZE_WORDS = {"mild": ("small", "trace", "tiny"), "moderate": ("moderate", "moderate-sized"), "severe": ("large",)}


@dataclass(frozen=True)
class Report:
    """The FINDINGS and IMPRESSION text of one study and the 14 labels it implies."""

    findings: str
    impression: str
    labels: dict[str, float]


class _Writer:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.labels = {name: math.nan for name in OBSERVATIONS}
        self.findings: list[str] = []
        self.impression: list[str] = []

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def set(self, value: float, *names: str) -> None:
        for name in names:
            if value == 1.0 or math.isnan(self.labels[name]) or self.labels[name] == 0.0:
                self.labels[name] = value


def _where(f: Finding) -> str:
    return "bilateral" if f.side == "bilateral" else f.side


def _consolidation(w: _Writer, f: Finding) -> None:
    sev = w.pick(SEVERITY_WORDS[f.severity])
    if f.side == "bilateral":
        place, short = f"both {f.zone} lung zones", f"bilateral {f.zone} lobe"
    else:
        place, short = f"the {LOBES[(f.side, f.zone)]}", LOBES[(f.side, f.zone)]
    w.set(1.0, "Lung Opacity")
    if f.severity == "mild" and w.rng.random() < 0.5:
        w.findings.append(w.pick([f"There is a {sev} opacity in {place}; pneumonia cannot be excluded.",
                                  f"Patchy opacity in {place}, which could represent early pneumonia."]))
        w.impression.append(w.pick([f"Opacity in {place}, cannot exclude pneumonia.",
                                    f"Possible early pneumonia in {place}."]))
        w.set(-1.0, "Pneumonia")
        return
    w.set(1.0, "Consolidation")
    w.findings.append(w.pick([f"There is {sev} consolidation in {place}.",
                              f"A {sev} focal opacity with consolidation is seen in {place}.",
                              f"{sev.capitalize()} airspace consolidation involves {place}."]))
    if w.rng.random() < 0.8:
        w.set(1.0, "Pneumonia")
        w.impression.append(w.pick([f"{short.capitalize()} pneumonia.",
                                    f"Findings consistent with pneumonia in {place}.",
                                    f"{sev.capitalize()} {short} consolidation, compatible with pneumonia."]))
    else:
        w.impression.append(f"{sev.capitalize()} consolidation in {place}.")


def _pneumothorax(w: _Writer, f: Finding) -> None:
    size = w.pick(SIZE_WORDS[f.severity])
    where = _where(f)
    w.set(1.0, "Pneumothorax")
    w.findings.append(w.pick([f"There is a {size} {where} apical pneumothorax.",
                              f"A {size} {where} pneumothorax is present, with the pleural line seen along the "
                              f"{'apices' if where == 'bilateral' else where + ' apex'}.",
                              f"{size.capitalize()} {where} pneumothorax along the apex and lateral chest wall."]))
    w.impression.append(w.pick([f"{size.capitalize()} {where} pneumothorax.",
                                f"{where.capitalize()} pneumothorax, {size}."]))


def _effusion(w: _Writer, f: Finding) -> None:
    size = w.pick(SIZE_WORDS[f.severity])
    where = _where(f)
    w.set(1.0, "Pleural Effusion")
    w.findings.append(w.pick([f"There is a {size} {where} pleural effusion.",
                              f"{size.capitalize()} {where} pleural effusion with blunting of the costophrenic angle.",
                              f"A {size} {where} effusion layers at the base."
                              + (f" It obscures the {where} hemidiaphragm." if where != "bilateral" else "")]))
    w.impression.append(f"{size.capitalize()} {where} pleural effusion.")


def _atelectasis(w: _Writer, f: Finding) -> None:
    sev = w.pick(SEVERITY_WORDS[f.severity])
    base = "bibasilar" if f.side == "bilateral" else f"{f.side} basilar"
    w.set(1.0, "Atelectasis", "Lung Opacity")
    w.findings.append(w.pick([f"{sev.capitalize()} {base} atelectasis.",
                              f"Linear opacity at the {'lung bases' if f.side == 'bilateral' else f.side + ' base'} "
                              f"is consistent with {sev} atelectasis.",
                              "Plate-like atelectasis at the "
                              f"{base.replace('basilar', 'base').replace('bibase', 'bases')}."]))
    w.impression.append(w.pick([f"{base.capitalize()} atelectasis.", f"{sev.capitalize()} {base} atelectasis."]))


def _edema(w: _Writer, f: Finding) -> None:
    sev = w.pick({"mild": ("mild", "mild to moderate"), "moderate": ("moderate",), "severe": ("severe",)}[f.severity])
    w.set(1.0, "Edema", "Lung Opacity")
    w.findings.append(w.pick([f"Perihilar opacities and vascular congestion consistent with {sev} pulmonary edema.",
                              f"There is {sev} interstitial edema with perihilar haziness.",
                              f"Bilateral perihilar opacity, compatible with {sev} pulmonary edema."]))
    w.impression.append(w.pick([f"{sev.capitalize()} pulmonary edema.", f"Findings of {sev} edema."]))


def _cardiomegaly(w: _Writer, f: Finding) -> None:
    adverb = {"mild": "mildly", "moderate": "moderately", "severe": "severely"}[f.severity]
    w.set(1.0, "Cardiomegaly", "Enlarged Cardiomediastinum")
    w.findings.append(w.pick([f"The heart is {adverb} enlarged.", f"{f.severity.capitalize()} cardiomegaly.",
                              f"The cardiac silhouette is {adverb} enlarged, the cardiomediastinal contour widened."]))
    w.impression.append(w.pick([f"{f.severity.capitalize()} cardiomegaly.", "Cardiomegaly."]))


def _nodule(w: _Writer, f: Finding) -> None:
    zone = f"{f.side} {f.zone} lung zone"
    w.set(1.0, "Lung Lesion")
    if f.detail["mass"]:
        cm = f.detail["size_mm"] / 10
        w.findings.append(w.pick([f"A {cm:.1f} cm mass is present in the {zone}.",
                                  f"There is a rounded mass in the {zone} measuring {cm:.1f} cm."]))
        w.impression.append(f"{f.side.capitalize()} {f.zone} lung mass; CT is recommended.")
    else:
        mm = f.detail["size_mm"]
        w.findings.append(w.pick([f"A {mm} mm nodule projects over the {zone}.",
                                  f"There is a {mm} mm nodule in the {zone}."]))
        w.impression.append(f"{mm} mm {f.side} {f.zone} nodule.")


def _devices(w: _Writer, f: Finding) -> None:
    text = {"endotracheal tube": "An endotracheal tube terminates about 4 cm above the carina.",
            "enteric tube": "An enteric tube courses below the diaphragm, its tip in the stomach.",
            "central venous catheter": "A right internal jugular catheter terminates in the mid SVC.",
            "pacemaker": "A left chest wall pacemaker is present with its lead in the right ventricle."}
    w.set(1.0, "Support Devices")
    w.findings.extend(text[d] for d in f.detail["devices"])


_POSITIVE = {"consolidation": _consolidation, "pneumothorax": _pneumothorax, "effusion": _effusion,
             "atelectasis": _atelectasis, "edema": _edema, "cardiomegaly": _cardiomegaly, "nodule": _nodule,
             "devices": _devices}


def _negatives(w: _Writer, present: set[str]) -> None:
    lung_clear = not present & {"consolidation", "atelectasis", "edema", "nodule"}
    if lung_clear:
        sentence = w.pick(["The lungs are clear.", "The lungs are clear without focal consolidation.",
                           "There is no focal consolidation."])
        w.findings.append(sentence)
        w.set(0.0, "Consolidation", *(["Lung Opacity"] if "clear" in sentence else []))
    elif "consolidation" not in present:
        w.findings.append(w.pick(["No focal consolidation.", "There is no evidence of pneumonia."]))
        w.set(0.0, "Consolidation" if w.findings[-1].startswith("No") else "Pneumonia")
    pleural = [k for k in ("effusion", "pneumothorax") if k not in present]
    if len(pleural) == 2:
        w.findings.append(w.pick(["No pleural effusion or pneumothorax.",
                                  "There is no pleural effusion or pneumothorax.",
                                  "No pneumothorax or pleural effusion is seen."]))
        w.set(0.0, "Pleural Effusion", "Pneumothorax")
    elif pleural == ["pneumothorax"]:
        w.findings.append(w.pick(["There is no evidence of pneumothorax.", "No pneumothorax."]))
        w.set(0.0, "Pneumothorax")
    elif pleural == ["effusion"]:
        w.findings.append(w.pick(["There is no pleural effusion.", "No pleural effusion is seen."]))
        w.set(0.0, "Pleural Effusion")
    if "edema" not in present and w.rng.random() < 0.6:
        w.findings.append(w.pick(["There is no pulmonary edema.", "No evidence of pulmonary edema."]))
        w.set(0.0, "Edema")
    if "cardiomegaly" not in present:
        sentence = w.pick(["Heart size is normal.", "The cardiomediastinal silhouette is within normal limits.",
                           "Normal heart size. Mediastinal and hilar contours are unremarkable."])
        w.findings.insert(0, sentence)
        w.set(0.0, "Enlarged Cardiomediastinum" if "silhouette" in sentence else "Cardiomegaly")


def write_report(findings: list[Finding], rng: np.random.Generator) -> Report:
    """Write FINDINGS and IMPRESSION for ``findings`` and derive the 14 CheXpert observations from the text."""
    w = _Writer(rng)
    order = list(findings)
    rng.shuffle(order)
    for finding in sorted(order, key=lambda f: f.kind == "devices"):
        _POSITIVE[finding.kind](w, finding)
    _negatives(w, {f.kind for f in findings})
    if not w.impression and findings:
        w.impression.append("Support devices as described. No acute cardiopulmonary process.")
    if not w.impression:
        w.impression.append(w.pick(["No acute cardiopulmonary process.", "No acute intrathoracic abnormality.",
                                    "Normal chest radiograph."]))
    disease = [name for name in OBSERVATIONS[1:-1] if w.labels[name] in (1.0, -1.0)]
    if not disease:
        w.labels["No Finding"] = 1.0
    return Report(findings=" ".join(w.findings), impression=" ".join(w.impression), labels=dict(w.labels))


def mimic_report_text(report: Report, rng: np.random.Generator, view: str, sex: str,
                      omit_findings: bool = False) -> str:
    """Format a report like a MIMIC-CXR ``sSTUDY.txt`` file (header, sections, 78-column wrapping)."""
    def wrap(text: str) -> str:
        return "\n".join(" " + line for line in textwrap.wrap(text, 76))

    indication = rng.choice(["shortness of breath", "fever and cough", "chest pain", "evaluate for pneumonia",
                             "status post line placement", "hypoxia"])
    who = "M" if sex == "Male" else "F"
    lines = ["                                 FINAL REPORT",
             f" EXAMINATION:  CHEST ({'PORTABLE AP' if view == 'AP' else 'PA AND LAT'})", " ",
             f" INDICATION:  ___{who} with {indication}.", " ",
             f" TECHNIQUE:  Chest {'portable AP' if view == 'AP' else 'PA and lateral'} "
             f"view{'s' if view != 'AP' else ''}.",
             " ", " COMPARISON:  None.", " "]
    if not omit_findings:
        lines += [" FINDINGS: ", " ", wrap(report.findings), " "]
    lines += [" IMPRESSION: ", " ", wrap(report.impression), ""]
    return "\n".join(lines)
