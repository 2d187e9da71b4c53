"""Vectorised drawing of a frontal (and a simple lateral) chest radiograph as a density map.

Everything is computed on normalised grids ``X, Y`` in ``[0, 1]`` (``[H, W]`` each), so shapes do not
depend on the pixel size. Densities add up (bright = dense) and are turned into pixels at the very end.
The patient's right is on the image's left, as in a standard PA radiograph.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

SIDES = ("right", "left")


@lru_cache(maxsize=8)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates ``X, Y`` (each ``[size, size]``, float32, in ``[0, 1]``)."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    Y, X = np.meshgrid(axis, axis, indexing="ij")
    X.setflags(write=False)
    Y.setflags(write=False)
    return X, Y


def soft(margin: np.ndarray, size: int, width_px: float = 1.2) -> np.ndarray:
    """Anti-aliased inside-indicator from a signed margin in normalised units (> 0 inside).

    A linear ramp ``width_px`` pixels wide across the edge (cheaper than a sigmoid, same look after the blur).
    """
    ramp = np.asarray(margin, dtype=np.float32) * np.float32(size / width_px)
    ramp += np.float32(0.5)
    return np.clip(ramp, 0.0, 1.0, out=ramp)


def segment_distance(X: np.ndarray, Y: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Distance of every grid point to the segment ``p0``–``p1`` (normalised units)."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((X - x0) * dx + (Y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return np.hypot(X - (x0 + t * dx), Y - (y0 + t * dy))


def polyline_distance(X: np.ndarray, Y: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    """Distance of every grid point to a polyline through ``points``."""
    return np.minimum.reduce([segment_distance(X, Y, a, b) for a, b in zip(points[:-1], points[1:])])


@lru_cache(maxsize=32)
def _upsampler(size: int, cells: int) -> np.ndarray:
    """Row-normalised Gaussian interpolation weights ``[size, cells + 3]`` from a coarse lattice to pixels."""
    position = (np.arange(size) + 0.5) / size * cells + 1.0
    weights = np.exp(-(((position[:, None] - np.arange(cells + 3)[None, :]) / 0.7) ** 2))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise ``[size, size]`` (about unit variance) with about ``cells`` features across."""
    coarse = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    up = _upsampler(size, cells)
    return (up @ coarse @ up.T) * 1.6


@dataclass(frozen=True)
class Anatomy:
    """Per-patient body proportions (normalised patient units), pose on the detector and exposure.

    Pose: the patient is drawn in patient coordinates and placed on the detector by ``scale`` (magnification,
    body size), ``tilt`` (in-plane rotation, radians) and ``shift`` (normalised units). Habitus: ``soft_tissue``
    (chest-wall thickness over the lungs), ``breast`` (shadow strength over the lower zones, 0 for none).
    Exposure: ``contrast``, ``brightness`` (offset), ``gamma``, ``noise`` (quantum noise sd), ``heel``
    (a brightness ramp across the detector, ``(dx, dy)``) and ``blur`` (sd in pixels at 128 px).
    """

    centre: float
    body_half_width: float
    lung_offset: float
    lung_half_width: float
    lung_top: float
    lung_base: tuple[float, float]  # right, left (the left hemidiaphragm sits lower); inspiration moves both
    dome: float
    heart_ratio: float  # cardiothoracic ratio; > 0.5 is cardiomegaly
    heart_y: float
    rib_phase: float
    contrast: float
    gamma: float
    noise: float
    scale: float = 1.0
    tilt: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0  # patient rotation: one lung projects wider than the other (fraction, signed)
    soft_tissue: float = 0.0
    breast: float = 0.0
    markings: float = 0.06
    brightness: float = 0.0
    heel: tuple[float, float] = (0.0, 0.0)
    blur: float = 0.0
    electrodes: int = 0
    heart_height: float = 0.11  # half-height of the cardiac silhouette beyond what its width implies
    heart_density: float = 0.62

    @staticmethod
    def sample(rng: np.random.Generator, heart_ratio: float | None = None, *, view: str = "PA",
               sex: str = "Male") -> Anatomy:
        """Draw a plausible adult anatomy, pose and exposure; ``heart_ratio`` overrides the (normal) ratio.

        A portable AP film (``view="AP"``) is magnified, shallower in inspiration and noisier; ``sex="Female"``
        adds breast shadows of varying strength.
        """
        ap = view == "AP"
        inspiration = float(rng.uniform(-0.06, 0.05)) - (0.03 if ap else 0.0)  # shallow breath: bases rise
        base_right = 0.71 + inspiration
        normal_ratio = float(rng.uniform(0.38, 0.50)) * (1.06 if ap else 1.0)
        return Anatomy(
            centre=float(rng.normal(0.5, 0.01)),
            body_half_width=float(rng.uniform(0.36, 0.48)),
            lung_offset=float(rng.uniform(0.165, 0.22)),
            lung_half_width=float(rng.uniform(0.115, 0.17)),
            lung_top=float(rng.uniform(0.11, 0.17)),
            lung_base=(base_right, base_right + float(rng.uniform(0.0, 0.035))),
            dome=float(rng.uniform(0.08, 0.18)),
            heart_ratio=float(heart_ratio * (1.04 if ap else 1.0) if heart_ratio is not None else normal_ratio),
            heart_y=float(rng.uniform(0.54, 0.62)) + inspiration / 2,
            rib_phase=float(rng.uniform(0.0, 1.0)),
            contrast=float(rng.uniform(0.7, 1.3)),
            gamma=float(rng.uniform(0.7, 1.4)),
            noise=float(rng.uniform(0.01, 0.035)) * (1.3 if ap else 1.0),
            scale=float(rng.uniform(0.78, 1.16)) * (1.04 if ap else 1.0),
            tilt=float(rng.normal(0.0, 0.06)),
            shift=(float(rng.normal(0.0, 0.05)), float(rng.normal(0.0, 0.045))),
            rotation=float(rng.normal(0.0, 0.06)),
            soft_tissue=float(rng.beta(2.0, 4.0)),
            breast=float(rng.uniform(0.3, 1.0)) if sex == "Female" else 0.0,
            markings=float(rng.uniform(0.035, 0.085)),
            brightness=float(rng.uniform(-0.08, 0.08)),
            heel=(float(rng.normal(0.0, 0.06)), float(rng.normal(0.0, 0.06))),
            blur=float(rng.uniform(0.4, 1.2)),
            electrodes=int(rng.choice([0, 0, 3, 4, 5])) if not ap else int(rng.integers(3, 6)),
            heart_height=float(rng.uniform(0.07, 0.15)),
            heart_density=float(rng.uniform(0.48, 0.68)),
        )

    def lung_centre(self, side: str) -> float:
        """The x of a lung's centre line (patient right = image left), patient coordinates."""
        return self.centre - self.lung_offset if side == "right" else self.centre + self.lung_offset

    def lung_width(self, side: str) -> float:
        """The half-width of one lung as projected (patient rotation widens one side, narrows the other)."""
        return self.lung_half_width * (1.0 + (self.rotation if side == "right" else -self.rotation))

    def hilum(self, side: str) -> tuple[float, float]:
        """The hilum of one lung (where vessels fan out from)."""
        return self.centre + (-0.09 if side == "right" else 0.09), 0.42 + (self.lung_base[0] - 0.71) / 2


def pose_grid(anat: Anatomy, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Patient coordinates ``X, Y`` ``[size, size]`` of every detector pixel under ``anat``'s pose."""
    Xi, Yi = grid(size)
    cos, sin = np.float32(np.cos(anat.tilt)), np.float32(np.sin(anat.tilt))
    u, v = Xi - np.float32(0.5 + anat.shift[0]), Yi - np.float32(0.5 + anat.shift[1])
    inv = np.float32(1.0 / anat.scale)
    return 0.5 + (cos * u + sin * v) * inv, 0.5 + (cos * v - sin * u) * inv


def lung_margin(anat: Anatomy, side: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Signed distance-like margin (normalised units, > 0 inside) of one lung field at points ``X, Y``."""
    base = anat.lung_base[0 if side == "right" else 1]
    height = base - anat.lung_top
    t = (Y - anat.lung_top) / height
    dx = (X - anat.lung_centre(side)) / anat.lung_width(side)
    width = np.sqrt(np.clip(t, 0.0, 1.5))
    base_t = 1.0 - anat.dome * (1.0 - np.clip(dx, -1, 1) ** 2) / (height / 0.55)
    return np.minimum.reduce(
        [(width - np.abs(dx)) * anat.lung_width(side), (base_t - t) * height, t * height + 0.02]
    ).astype(np.float32)


@dataclass
class Frontal:
    """A frontal radiograph under construction: density map and the named layers findings need."""

    anat: Anatomy
    size: int
    density: np.ndarray  # [H, W]
    lungs: dict[str, np.ndarray]  # side -> soft mask [H, W]
    markings: np.ndarray  # [H, W] vessel density already added to ``density``
    heart: np.ndarray  # [H, W] soft mask of the cardiac silhouette
    coords: tuple[np.ndarray, np.ndarray] | None = None  # patient coordinates of every pixel (pose_grid)

    def open_lung(self, side: str) -> np.ndarray:
        """Soft mask ``[H, W]`` of one lung where it is not hidden behind the heart."""
        return self.lungs[side] * (1.0 - 0.85 * self.heart)

    @property
    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The patient coordinates ``X, Y`` of every pixel (the pose applied; ``grid(size)`` without one)."""
        return self.coords if self.coords is not None else grid(self.size)


def draw_frontal(anat: Anatomy, size: int, rng: np.random.Generator) -> Frontal:
    """Draw body, lungs, mediastinum, heart, spine, ribs, clavicles, diaphragm, lung markings, chest-wall soft
    tissue and breast shadows, and ECG electrodes with their leads, in the patient's pose."""
    X, Y = pose_grid(anat, size)
    c = anat.centre
    u = np.abs(X - c)
    # body: neck above the shoulders, a torso widening to the shoulders, abdomen below
    shoulder = np.clip((Y - 0.04) / 0.12, 0, 1)
    half = 0.10 + (anat.body_half_width - 0.10) * np.sqrt(shoulder)
    body = soft(half - u, size, 3.0)
    density = 0.03 + 0.47 * body
    lungs = {side: soft(lung_margin(anat, side, X, Y), size, 1.5) for side in SIDES}
    lung_any = np.maximum(lungs["right"], lungs["left"])
    density -= 0.30 * lung_any
    # mediastinum, aortic knob, trachea, spine
    mediastinum = soft(0.045 + 0.03 * np.clip((Y - 0.3) / 0.3, 0, 1) - u, size, 2.0) * soft(0.7 - Y, size, 2.0)
    mediastinum = np.maximum(mediastinum, soft(0.035 - np.hypot(X - (c + 0.055), Y - 0.30), size, 1.5))
    density = density * (1 - mediastinum) + 0.58 * mediastinum
    density -= 0.10 * soft(0.013 - u, size, 1.0) * soft(0.33 - Y, size, 2.0)
    density += 0.05 * soft(0.03 - u, size, 1.0)
    # heart: an ellipse shifted to the patient's left, width = ratio * thoracic width
    thoracic = 2 * (anat.lung_offset + anat.lung_half_width)
    heart_half_w = anat.heart_ratio * thoracic / 2
    heart_x = c + 0.22 * heart_half_w
    heart_half_h = anat.heart_height + 0.15 * heart_half_w
    r = np.hypot((X - heart_x) / heart_half_w, (Y - anat.heart_y) / heart_half_h)
    heart = soft((1.0 - r) * heart_half_w, size, 1.5)
    density = density * (1 - heart) + anat.heart_density * heart
    # ribs: posterior (descending laterally) and fainter anterior ones, inside the thorax
    thorax = soft(anat.lung_offset + anat.lung_half_width + 0.02 - u, size, 3.0) * soft(Y - 0.08, size, 3.0)
    spacing = (max(anat.lung_base) - anat.lung_top) / 8.5
    posterior = (Y - 0.35 * u - 0.6 * u**2 - anat.lung_top) / spacing + anat.rib_phase
    anterior = (Y + 0.45 * u - anat.lung_top - 0.12) / (spacing * 1.3)
    ribs = 0.06 * np.exp(-(((posterior - np.round(posterior)) / 0.16) ** 2))
    ribs += 0.02 * np.exp(-(((anterior - np.round(anterior)) / 0.14) ** 2))
    density += ribs * thorax * (u > 0.035) * soft(max(anat.lung_base) + 0.02 - Y, size, 3.0) * (0.4 + 0.6 * lung_any)
    # soft tissue over the lung periphery and bases; a thicker chest wall greys the whole lung field
    density += (0.04 + 0.08 * anat.soft_tissue) * lung_any * (0.6 + 0.4 * smooth_noise(rng, size, 3) ** 2)
    if anat.breast > 0:
        for sign in (-1, 1):
            bx, by = c + sign * (anat.lung_offset + 0.03), max(anat.lung_base) - 0.06
            r = np.hypot((X - bx) / 0.15, (Y - by) / 0.11)
            density += 0.09 * anat.breast * soft(1.0 - r, size, 6.0) * soft(Y - by + 0.06, size, 4.0)
    density += 0.06 * lung_any * np.clip(np.abs(X - c) / (anat.lung_offset + anat.lung_half_width), 0, 1) ** 3
    # clavicles
    for sign in (-1, 1):
        d = segment_distance(X, Y, (c + sign * 0.05, 0.18), (c + sign * 0.33, 0.115))
        density += 0.16 * soft(0.013 - d, size, 1.2)
    # lung markings: ridged noise fanning out from the hila, fading to the periphery
    ridges = np.exp(-((smooth_noise(rng, size, 14) / 0.22) ** 2)) + 0.6 * np.exp(
        -((smooth_noise(rng, size, 28) / 0.22) ** 2)
    )
    hilar = np.zeros_like(density)
    for side in SIDES:
        hx, hy = anat.hilum(side)
        hilar = np.maximum(hilar, np.exp(-np.hypot(X - hx, Y - hy) / 0.16))
    markings = (anat.markings * ridges * (0.35 + hilar) * lung_any).astype(np.float32)
    density += markings
    density += electrodes(anat, size, rng)
    return Frontal(anat=anat, size=size, density=density.astype(np.float32), lungs=lungs, markings=markings,
                   heart=heart, coords=(X, Y))


def electrodes(anat: Anatomy, size: int, rng: np.random.Generator) -> np.ndarray:
    """ECG electrodes (small bright rings) anywhere over the chest, each with a lead curving off the film."""
    Xi, Yi = grid(size)
    out = np.zeros((size, size), dtype=np.float32)
    for _ in range(anat.electrodes):
        ex, ey = float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.1, 0.8))
        ring = np.hypot(Xi - ex, Yi - ey)
        out += 0.3 * soft(0.014 - ring, size, 1.0) - 0.12 * soft(0.006 - ring, size, 1.0)
        end = (float(rng.choice([0.0, 1.0])), float(rng.uniform(0.0, 1.0)))
        bend = (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8)))
        out += 0.08 * soft(0.003 - polyline_distance(Xi, Yi, [(ex, ey), bend, end]), size, 0.8)
    return out


def draw_lateral(anat: Anatomy, size: int, rng: np.random.Generator) -> np.ndarray:
    """Density map ``[H, W]`` of a simple lateral view (patient facing left): one lung, heart, spine."""
    X, Y = grid(size)
    body = soft(0.36 - np.abs(X - 0.5) * (1.0 - 0.2 * Y), size, 3.0) * soft(Y - 0.05, size, 3.0)
    density = 0.03 + 0.42 * body
    lung = (soft(0.26 - np.hypot((X - 0.52) / 1.0, (Y - 0.45) / 1.25), size, 1.5)
            * soft(anat.lung_base[1] - Y, size, 1.5))
    density -= 0.28 * lung
    density += 0.25 * soft(0.085 * anat.heart_ratio / 0.45 - np.hypot(X - 0.38, Y - anat.heart_y - 0.02), size, 2.0)
    vertebrae = np.exp(-(((Y * 18 + anat.rib_phase) % 1.0 - 0.5) / 0.3) ** 2)
    density += (0.18 + 0.08 * vertebrae) * soft(0.045 - np.abs(X - 0.78), size, 1.5)
    density += 0.04 * np.exp(-((smooth_noise(rng, size, 16) / 0.25) ** 2)) * lung
    return density.astype(np.float32)


def to_pixels(density: np.ndarray, anat: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Blur, add quantum noise, the heel-effect ramp and the exposure curve: ``uint8 [H, W]``."""
    size = density.shape[0]
    Xi, Yi = grid(size)
    image = ndimage.gaussian_filter(density, sigma=max(anat.blur * size / 128, 0.5))
    image = image + anat.noise * rng.standard_normal(image.shape).astype(np.float32)
    image = image + anat.brightness + anat.heel[0] * (Xi - 0.5) + anat.heel[1] * (Yi - 0.5)
    image = np.clip((image - 0.02) * anat.contrast / 0.75, 0.0, 1.0) ** anat.gamma
    return np.round(image * 255.0).astype(np.uint8)
