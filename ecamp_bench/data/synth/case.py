"""One synthetic patient study: findings → anatomy → pixels (+ truth) → report, all from one seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecamp_bench.data.synth.anatomy import Anatomy, draw_frontal, draw_lateral, to_pixels
from ecamp_bench.data.synth.findings import Finding, Truth, draw_findings, heart_ratio, lateral_overlay, sample_findings
from ecamp_bench.data.synth.reports import Report, write_report

# Stable per-layout stream ids, so each layout's cases depend only on (seed, layout, index).
STREAMS = {"mimic": 1, "chexpert": 2, "rsna": 3, "siim": 4, "nih": 5, "covidx": 6, "probe": 7}


@dataclass
class Case:
    """A rendered study: frontal image (uint8 ``[S, S]``), optional lateral, findings, truth, report, demographics."""

    frontal: np.ndarray
    lateral: np.ndarray | None
    view: str  # PA or AP
    findings: list[Finding]
    truth: Truth
    report: Report
    sex: str
    age: int
    extra: dict = field(default_factory=dict)

    def truth_record(self) -> dict:
        """A JSON-ready summary of what was drawn (findings with side/zone/severity, boxes, labels)."""
        return {"view": self.view, "findings": self.truth.records,
                "boxes": [list(b) for b in self.truth.boxes],
                "pneumothorax_px": int(self.truth.pneumothorax.sum()) if self.truth.pneumothorax is not None else 0,
                "labels": {k: (None if v != v else v) for k, v in self.report.labels.items()}}


def case_rng(seed: int, profile: str, index: int) -> np.random.Generator:
    """The random generator of case ``index`` of ``profile`` for ``seed`` (independent of every other case)."""
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[profile], index]))


def make_case(seed: int, profile: str, index: int, size: int, lateral: bool = False,
              extra: tuple[Finding, ...] = ()) -> Case:
    """Render case ``index`` of ``profile`` at ``size`` pixels (square), deterministically from ``seed``.

    ``extra`` findings are drawn after the ones sampled from the profile (a writer that decides a case's class
    first, e.g. COVIDx, passes the class's findings here). The patient (sex, age) and the view are drawn first,
    so the anatomy (breast shadows, a portable AP film's magnification and noise) can depend on them.
    """
    rng = case_rng(seed, profile, index)
    sex, age = str(rng.choice(["Male", "Female"])), int(rng.integers(18, 91))
    view = "AP" if rng.random() < 0.3 else "PA"
    findings = sample_findings(rng, profile) + list(extra)
    anat = Anatomy.sample(rng, heart_ratio=heart_ratio(findings), view=view, sex=sex)
    image = draw_frontal(anat, size, rng)
    truth = draw_findings(image, findings, rng)
    frontal = to_pixels(image.density, anat, rng)
    side_view = None
    if lateral:
        side_view = to_pixels(lateral_overlay(draw_lateral(anat, size, rng), findings, rng), anat, rng)
    report = write_report(findings, rng)
    return Case(frontal=frontal, lateral=side_view, view=view, findings=findings, truth=truth, report=report,
                sex=sex, age=age)
