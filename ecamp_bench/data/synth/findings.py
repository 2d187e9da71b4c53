"""Sampling findings and drawing them into a frontal radiograph, recording the ground truth.

A :class:`Finding` says what, where (patient side, lung zone) and how bad; :func:`draw_findings` paints it
into the density map and returns the pixel truth: opacity boxes (pneumonia/consolidation) and the
pneumothorax mask. Zones are thirds of the lung height (upper/middle/lower).

Appearance varies within a label as on real films: an opacity's position inside its zone, its size, outline
(one to three lobules), texture (mottling, air bronchograms) and contrast are drawn per case; severity shifts
the ranges, which overlap. Atelectasis is one to three thin plate-like bands at any angle; edema is mostly
texture (thickened vessels, Kerley B lines at the bases, a faint perihilar haze); an effusion is a meniscus of
varying height and density; cardiomegaly is a cardiothoracic ratio drawn per severity. So no fixed set of
pixels carries a finding: see docs/synthetic.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecamp_bench.data.synth.anatomy import SIDES, Frontal, grid, lung_margin, polyline_distance, smooth_noise, soft

KINDS = ("consolidation", "pneumothorax", "effusion", "atelectasis", "edema", "cardiomegaly", "nodule", "devices")
SEVERITIES = ("mild", "moderate", "severe")
ZONES = ("upper", "middle", "lower")
DEVICES = ("endotracheal tube", "enteric tube", "central venous catheter", "pacemaker")

# Prevalence of each finding per dataset profile (independent draws).
PROFILES: dict[str, dict[str, float]] = {
    "mimic": {"consolidation": 0.22, "pneumothorax": 0.08, "effusion": 0.22, "atelectasis": 0.18, "edema": 0.12,
              "cardiomegaly": 0.22, "nodule": 0.07, "devices": 0.2},
    "chexpert": {"consolidation": 0.22, "pneumothorax": 0.1, "effusion": 0.25, "atelectasis": 0.2, "edema": 0.15,
                 "cardiomegaly": 0.2, "nodule": 0.06, "devices": 0.25},
    "rsna": {"consolidation": 0.3, "pneumothorax": 0.02, "effusion": 0.08, "atelectasis": 0.08, "edema": 0.05,
             "cardiomegaly": 0.1, "nodule": 0.03, "devices": 0.1},
    "siim": {"consolidation": 0.08, "pneumothorax": 0.28, "effusion": 0.08, "atelectasis": 0.08, "edema": 0.04,
             "cardiomegaly": 0.08, "nodule": 0.03, "devices": 0.2},
    # the held-out set of the pre-training probe (ecamp_bench.pretrain.probe): every finding common enough to score
    "probe": {"consolidation": 0.3, "pneumothorax": 0.3, "effusion": 0.3, "atelectasis": 0.3, "edema": 0.3,
              "cardiomegaly": 0.3, "nodule": 0.1, "devices": 0.3},
    "nih": {"consolidation": 0.3, "pneumothorax": 0.12, "effusion": 0.3, "atelectasis": 0.2, "edema": 0.12,
            "cardiomegaly": 0.18, "nodule": 0.2, "devices": 0.1},
    "covidx": {"consolidation": 0.0, "pneumothorax": 0.02, "effusion": 0.06, "atelectasis": 0.06, "edema": 0.0,
               "cardiomegaly": 0.08, "nodule": 0.02, "devices": 0.1},
}


@dataclass(frozen=True)
class Finding:
    """One finding: ``kind`` (see ``KINDS``), patient ``side`` (right/left/bilateral), lung ``zone``, ``severity``."""

    kind: str
    side: str | None = None
    zone: str | None = None
    severity: str = "moderate"
    detail: dict = field(default_factory=dict)


def _side(rng: np.random.Generator, bilateral: float) -> str:
    return "bilateral" if rng.random() < bilateral else str(rng.choice(SIDES))


def sample_findings(rng: np.random.Generator, profile: str) -> list[Finding]:
    """Draw the findings of one patient from the prevalences of ``profile``."""
    prevalence = PROFILES[profile]
    found: list[Finding] = []
    for kind in KINDS:
        if rng.random() >= prevalence[kind]:
            continue
        severity = str(rng.choice(SEVERITIES, p=[0.4, 0.4, 0.2]))
        if kind == "consolidation":
            found.append(Finding(kind, _side(rng, 0.15), str(rng.choice(ZONES, p=[0.2, 0.3, 0.5])), severity))
        elif kind == "pneumothorax":
            found.append(Finding(kind, _side(rng, 0.1), "upper", severity))
        elif kind in ("effusion", "atelectasis"):
            found.append(Finding(kind, _side(rng, 0.3), "lower", severity))
        elif kind == "edema":
            found.append(Finding(kind, "bilateral", None, severity))
        elif kind == "cardiomegaly":
            low, high = {"mild": (0.52, 0.58), "moderate": (0.57, 0.64), "severe": (0.63, 0.72)}[severity]
            found.append(Finding(kind, None, None, severity, {"ratio": round(float(rng.uniform(low, high)), 4)}))
        elif kind == "nodule":
            is_mass = rng.random() < 0.35
            found.append(Finding(kind, str(rng.choice(SIDES)), str(rng.choice(ZONES)), severity,
                                 {"mass": bool(is_mass),
                                  "size_mm": int(rng.integers(35, 70) if is_mass else rng.integers(6, 25))}))
        else:
            chosen = rng.choice(len(DEVICES), size=int(rng.integers(1, 3)), replace=False)
            found.append(Finding(kind, None, None, "moderate", {"devices": [DEVICES[i] for i in sorted(chosen)]}))
    return found


def heart_ratio(findings: list[Finding]) -> float | None:
    """The cardiothoracic ratio implied by a cardiomegaly finding, ``None`` for a normal heart."""
    for f in findings:
        if f.kind == "cardiomegaly":
            return f.detail.get("ratio", {"mild": 0.56, "moderate": 0.62, "severe": 0.68}[f.severity])
    return None


@dataclass
class Truth:
    """What was drawn: opacity boxes in pixels ``(x1, y1, x2, y2)``, the pneumothorax mask and per-finding records."""

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    pneumothorax: np.ndarray | None = None  # bool [H, W], or None when absent
    pneumothorax_regions: list[np.ndarray] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)


def _sides(finding: Finding) -> tuple[str, ...]:
    return SIDES if finding.side == "bilateral" else (finding.side,)


def _zone_y(anat, side: str, zone: str, rng: np.random.Generator) -> float:
    base = anat.lung_base[0 if side == "right" else 1]
    lo, hi = {"upper": (0.18, 0.36), "middle": (0.42, 0.6), "lower": (0.66, 0.8)}[zone]
    return anat.lung_top + (base - anat.lung_top) * float(rng.uniform(lo, hi))


def _box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def _between(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _lobules(img: Frontal, rng: np.random.Generator, cx: float, cy: float, radius: float, count: int) -> np.ndarray:
    """One to a few overlapping rotated ellipses around ``(cx, cy)``: an irregular patch (soft, ``[H, W]`` in 0..1)."""
    X, Y = img.grid
    patch = np.zeros_like(img.density)
    for _ in range(count):
        x0, y0 = cx + float(rng.normal(0.0, 0.5 * radius)), cy + float(rng.normal(0.0, 0.5 * radius))
        rx, ry, angle = (radius * _between(rng, (0.6, 1.3)), radius * _between(rng, (0.6, 1.3)),
                         _between(rng, (0, np.pi)))
        u = (X - x0) * np.cos(angle) + (Y - y0) * np.sin(angle)
        v = (Y - y0) * np.cos(angle) - (X - x0) * np.sin(angle)
        patch = np.maximum(patch, np.exp(-1.5 * ((u / rx) ** 2 + (v / ry) ** 2)))
    return patch


def _consolidation(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    radius = {"mild": (0.035, 0.065), "moderate": (0.05, 0.09), "severe": (0.07, 0.12)}[f.severity]
    strength = {"mild": (0.2, 0.3), "moderate": (0.25, 0.38), "severe": (0.3, 0.45)}[f.severity]
    for side in _sides(f):
        cx = img.anat.lung_centre(side) + _between(rng, (-0.5, 0.5)) * img.anat.lung_width(side)
        cy = _zone_y(img.anat, side, f.zone, rng)
        patch = _lobules(img, rng, cx, cy, _between(rng, radius), int(rng.integers(1, 4)))
        mottled = patch * np.clip(1.0 + 0.5 * smooth_noise(rng, img.size, 24), 0.2, 1.8)
        bronchi = np.exp(-((smooth_noise(rng, img.size, 16) / 0.18) ** 2)) * (patch > 0.45)
        blob = np.clip(mottled * (1.0 - 0.55 * bronchi), 0.0, 1.0) * img.lungs[side] * (1.0 - 0.85 * img.heart)
        img.density += _between(rng, strength) * blob
        box = _box(blob > 0.3)
        if box is not None:
            truth.boxes.append(box)
            truth.records.append({"kind": f.kind, "side": side, "zone": f.zone, "severity": f.severity, "box": box})


def _largest_component(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return components == (1 + int(np.argmax(sizes)))


def _pneumothorax(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    X, Y = img.grid
    shrink = {"mild": 0.86, "moderate": 0.74, "severe": 0.6}[f.severity]
    for side in _sides(f):
        lateral = -1.0 if side == "right" else 1.0
        base = img.anat.lung_base[0 if side == "right" else 1]
        ax, ay = img.anat.lung_centre(side) - lateral * 0.08, base  # the lung collapses towards its medial base
        collapsed_margin = lung_margin(img.anat, side, ax + (X - ax) / shrink, ay + (Y - ay) / shrink) * shrink
        collapsed = soft(collapsed_margin, img.size, 1.0)
        lung = img.lungs[side]
        air = np.clip(lung - collapsed, 0.0, 1.0)  # the pleural space filled with air
        img.density -= air * (img.markings + 0.09)
        pleural_line = np.exp(-((collapsed_margin * img.size / 0.9) ** 2)) * img.open_lung(side)
        img.density += 0.16 * pleural_line
        region = _largest_component(air > 0.5)
        truth.pneumothorax_regions.append(region)
        truth.pneumothorax = region if truth.pneumothorax is None else truth.pneumothorax | region
        truth.records.append({"kind": f.kind, "side": side, "zone": "apical", "severity": f.severity,
                              "area_px": int(region.sum())})


def _effusion(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    X, Y = img.grid
    level_range = {"mild": (0.08, 0.16), "moderate": (0.14, 0.28), "severe": (0.26, 0.45)}[f.severity]
    for side in _sides(f):
        level, rise, fluid_density = _between(rng, level_range), _between(rng, (0.02, 0.1)), _between(rng, (0.4, 0.55))
        base = img.anat.lung_base[0 if side == "right" else 1]
        height = base - img.anat.lung_top
        lateral = np.abs(X - img.anat.lung_centre(side)) / img.anat.lung_width(side)
        top = base - level * height - rise * np.clip(lateral, 0, 1.2) ** 2  # meniscus rising laterally
        fluid = soft(Y - top, img.size, _between(rng, (2.0, 6.0))) * img.lungs[side]
        img.density = np.maximum(img.density, (img.density - img.markings) * (1 - fluid) + fluid_density * fluid)
        truth.records.append({"kind": f.kind, "side": side, "zone": "lower", "severity": f.severity})


def _atelectasis(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    X, Y = img.grid
    thickness = {"mild": (0.012, 0.02), "moderate": (0.016, 0.026), "severe": (0.02, 0.034)}[f.severity]
    for side in _sides(f):
        for _ in range(int(rng.integers(1, 4))):  # plate-like bands at any angle in the lower half of the lung
            cx = img.anat.lung_centre(side) + _between(rng, (-0.5, 0.5)) * img.anat.lung_width(side)
            cy = _zone_y(img.anat, side, str(rng.choice(["middle", "lower"], p=[0.3, 0.7])), rng)
            tilt, length = _between(rng, (-0.6, 0.6)), _between(rng, (0.04, 0.1))
            u = (X - cx) * np.cos(tilt) + (Y - cy) * np.sin(tilt)
            v = (Y - cy) * np.cos(tilt) - (X - cx) * np.sin(tilt)
            band = np.exp(-((v / _between(rng, thickness)) ** 2)) * np.exp(-((u / length) ** 4))
            img.density += _between(rng, (0.3, 0.5)) * band * img.open_lung(side)
        truth.records.append({"kind": f.kind, "side": side, "zone": "lower", "severity": f.severity})


def _edema(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    X, Y = img.grid
    strength = {"mild": (0.03, 0.07), "moderate": (0.05, 0.1), "severe": (0.08, 0.14)}[f.severity]
    haze = np.zeros_like(img.density)
    for side in SIDES:
        hx, hy = img.anat.hilum(side)
        haze = np.maximum(haze, np.exp(-(np.hypot(X - hx, (Y - hy) * 0.8) / 0.13) ** 2) * img.lungs[side])
    haze *= 1.0 - 0.85 * img.heart
    img.density += _between(rng, strength) * haze * (1.0 + 0.4 * smooth_noise(rng, img.size, 20))
    img.density += _between(rng, (0.3, 0.7)) * img.markings  # engorged, indistinct vessels
    lines = np.zeros_like(img.density)
    for side in SIDES:  # Kerley B lines: short horizontal lines reaching the pleura at the bases
        lateral = -1.0 if side == "right" else 1.0
        edge = img.anat.lung_centre(side) + lateral * 0.85 * img.anat.lung_width(side)
        base = img.anat.lung_base[0 if side == "right" else 1]
        for _ in range(int(rng.integers(3, 8))):
            y = base - _between(rng, (0.03, 0.2)) * (base - img.anat.lung_top)
            length = _between(rng, (0.03, 0.06))
            x0 = edge - lateral * length
            lines = np.maximum(lines, np.exp(-(((Y - y) / 0.008) ** 2)) * soft(length - np.abs(X - x0), img.size, 1.0))
    img.density += _between(rng, (0.15, 0.3)) * lines * np.maximum(img.lungs["right"], img.lungs["left"])
    truth.records.append({"kind": f.kind, "side": "bilateral", "zone": "perihilar", "severity": f.severity})


def _nodule(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    X, Y = img.grid
    radius = f.detail["size_mm"] / 350.0 / 2  # the image spans about 35 cm
    cx = img.anat.lung_centre(f.side) + float(rng.uniform(-0.05, 0.05))
    cy = _zone_y(img.anat, f.side, f.zone, rng)
    disc = soft(radius - np.hypot(X - cx, Y - cy), img.size, 1.0) * img.lungs[f.side]
    img.density += _between(rng, (0.15, 0.35)) * disc
    truth.records.append({"kind": f.kind, "side": f.side, "zone": f.zone, "severity": f.severity, **f.detail})


def _devices(img: Frontal, f: Finding, rng: np.random.Generator, truth: Truth) -> None:
    X, Y = img.grid
    c = img.anat.centre + float(rng.normal(0.0, 0.01))
    paths = {
        "endotracheal tube": [(c, 0.0), (c, 0.27)],
        "enteric tube": [(c - 0.01, 0.0), (c + 0.01, 0.5), (c + 0.1, 0.85)],
        "central venous catheter": [(c - 0.22, 0.12), (c - 0.08, 0.2), (c - 0.04, 0.38)],
        "pacemaker": [(c + 0.28, 0.14), (c + 0.1, 0.25), (c - 0.02, 0.5), (c + 0.02, 0.6)],
    }
    for device in f.detail["devices"]:
        d = polyline_distance(X, Y, paths[device])
        img.density += 0.3 * soft(0.0045 - d, img.size, 0.7)
        if device == "pacemaker":
            img.density += 0.5 * soft(0.03 - np.maximum(np.abs(X - c - 0.29), np.abs(Y - 0.14)), img.size, 1.0)
    truth.records.append({"kind": f.kind, "devices": list(f.detail["devices"])})


_DRAW = {"consolidation": _consolidation, "pneumothorax": _pneumothorax, "effusion": _effusion,
         "atelectasis": _atelectasis, "edema": _edema, "nodule": _nodule, "devices": _devices}


def draw_findings(img: Frontal, findings: list[Finding], rng: np.random.Generator) -> Truth:
    """Paint ``findings`` into ``img.density`` (in place) and return the recorded pixel truth."""
    truth = Truth()
    order = sorted(findings, key=lambda f: KINDS.index(f.kind) if f.kind != "pneumothorax" else -1)
    for finding in order:  # pneumothorax first: it removes lung markings before opacities are added
        if finding.kind == "cardiomegaly":
            truth.records.append({"kind": "cardiomegaly", "severity": finding.severity,
                                  "heart_ratio": img.anat.heart_ratio})
            continue
        _DRAW[finding.kind](img, finding, rng, truth)
    return truth


def lateral_overlay(density: np.ndarray, findings: list[Finding], rng: np.random.Generator) -> np.ndarray:
    """Add the findings that show on a lateral view (opacities, fluid) to a lateral density map."""
    size = density.shape[0]
    X, Y = grid(size)
    out = density.copy()
    for f in findings:
        if f.kind == "consolidation":
            cy = {"upper": 0.3, "middle": 0.45, "lower": 0.6}[f.zone]
            out += 0.25 * np.exp(-(((X - 0.55) / 0.08) ** 2 + ((Y - cy) / 0.08) ** 2))
        elif f.kind == "effusion":
            out += 0.25 * soft(Y - 0.62 + 0.1 * (X - 0.5), size, 3.0) * soft(0.75 - Y, size, 3.0) * (X > 0.55)
    return out
