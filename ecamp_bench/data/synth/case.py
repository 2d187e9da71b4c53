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


@dataclass(frozen=True)
class HardFinding:
    """A finding drawn with less contrast in one demographic group: the knob that makes a subgroup gap on purpose.

    For a case whose ``sex`` is ``sex`` (``"Female"`` or ``"Male"``, as the case records it) and that has finding
    ``kind``, that finding's change to the density map is multiplied by ``contrast`` (0 = invisible, 1 = unchanged).
    Cases of the other group, and cases without the finding, are drawn as with the knob off. Off by default.
    Spelled ``KIND:SEX:CONTRAST`` on the command line (``effusion:Female:0.3``).
    """

    kind: str
    sex: str = "Female"
    contrast: float = 0.3

    def __post_init__(self) -> None:
        from ecamp_bench.data.synth.findings import KINDS

        allowed = [k for k in KINDS if k not in ("cardiomegaly", "pneumothorax")]  # drawn apart from the opacities
        if self.kind not in allowed:
            raise ValueError(f"hard finding {self.kind!r}: one of {allowed}")
        if self.sex not in ("Female", "Male"):
            raise ValueError(f"hard finding group {self.sex!r}: 'Female' or 'Male'")
        if not 0.0 <= self.contrast <= 1.0:
            raise ValueError(f"hard finding contrast {self.contrast}: must be in [0, 1]")

    @classmethod
    def parse(cls, text: str) -> HardFinding:
        """``"effusion:Female:0.3"`` (group and contrast optional) → a :class:`HardFinding`."""
        parts = text.split(":")
        return cls(parts[0], *(parts[1:2] or []), *([float(parts[2])] if len(parts) > 2 else []))


def _draw_hard(image, findings: list[Finding], hard: HardFinding, rng: np.random.Generator) -> Truth:
    """Draw ``findings`` with the hard finding last and its density change scaled by ``hard.contrast``."""
    truth = draw_findings(image, [f for f in findings if f.kind != hard.kind], rng)
    before = image.density.copy()
    extra = draw_findings(image, [f for f in findings if f.kind == hard.kind], rng)
    image.density = before + hard.contrast * (image.density - before)
    truth.boxes += extra.boxes
    truth.records += extra.records
    return truth


def case_rng(seed: int, profile: str, index: int) -> np.random.Generator:
    """The random generator of case ``index`` of ``profile`` for ``seed`` (independent of every other case)."""
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[profile], index]))


def make_case(seed: int, profile: str, index: int, size: int, lateral: bool = False,
              extra: tuple[Finding, ...] = (), hard: HardFinding | None = None, conspicuity: float = 1.0) -> Case:
    """Render case ``index`` of ``profile`` at ``size`` pixels (square), deterministically from ``seed``.

    ``extra`` findings are drawn after the ones sampled from the profile (a writer that decides a case's class
    first, e.g. COVIDx, passes the class's findings here). The patient (sex, age) and the view are drawn first,
    so the anatomy (breast shadows, a portable AP film's magnification and noise) can depend on them. ``hard`` (off
    by default) draws one finding with less contrast in one sex (:class:`HardFinding`), using those demographics.
    ``conspicuity`` multiplies every drawn finding's change to the density map (1 = the world as documented; the
    ratio-based cardiomegaly is anatomy and is not scaled). Tests that check the evaluation plumbing with a tiny
    model trained for seconds use > 1; at 1 no extra arithmetic is done, so the default world's bytes are unchanged.
    """
    if not conspicuity > 0:
        raise ValueError(f"conspicuity {conspicuity}: must be > 0")
    rng = case_rng(seed, profile, index)
    sex, age = str(rng.choice(["Male", "Female"])), int(rng.integers(18, 91))
    view = "AP" if rng.random() < 0.3 else "PA"
    findings = sample_findings(rng, profile) + list(extra)
    anat = Anatomy.sample(rng, heart_ratio=heart_ratio(findings), view=view, sex=sex)
    image = draw_frontal(anat, size, rng)
    before = image.density.copy() if conspicuity != 1.0 else None
    if hard is not None and sex == hard.sex and any(f.kind == hard.kind for f in findings):
        truth = _draw_hard(image, findings, hard, rng)
    else:
        truth = draw_findings(image, findings, rng)
    if before is not None:
        image.density = before + conspicuity * (image.density - before)
    frontal = to_pixels(image.density, anat, rng)
    side_view = None
    if lateral:
        side_view = to_pixels(lateral_overlay(draw_lateral(anat, size, rng), findings, rng), anat, rng)
    report = write_report(findings, rng)
    return Case(frontal=frontal, lateral=side_view, view=view, findings=findings, truth=truth, report=report,
                sex=sex, age=age)
