"""Synthetic Giemsa thin-smear fields with ground truth, for tests, benchmarks and the demo image.

Why: real labelled fields are scarce and come from one lab each; a generator lets tests vary stain colour,
illumination, cell size and density on purpose, so the segmenter is not tuned to one data set.

Rendering follows Beer-Lambert: every object adds optical density (OD) per RGB channel, overlaps add up
(darker where cells overlap, like on a real slide), and the field is ``background * 10**-OD`` times a
smooth illumination field, then blurred and given sensor noise. Each object is drawn on its own small
patch, so a 1280x960 field takes well under 0.5 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

CellKind = Literal["rbc", "wbc", "platelet"]


@dataclass(frozen=True)
class TrueCell:
    """Ground truth for one drawn object; coordinates are image pixels, top-left origin."""

    centroid: tuple[float, float]  # (x, y)
    radius: float  # mean radius in pixels
    kind: CellKind
    parasitized: bool = False
    axes: tuple[float, float] = (0.0, 0.0)  # ellipse semi-axes (a, b) in pixels
    angle_deg: float = 0.0
    on_edge: bool = False  # the object is cut by the image border


@dataclass(frozen=True, eq=False)
class SyntheticSmear:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    cells: tuple[TrueCell, ...]
    cell_diameter_px: float

    @property
    def rbcs(self) -> tuple[TrueCell, ...]:
        return tuple(c for c in self.cells if c.kind == "rbc")


def _ellipse_patch(cx: float, cy: float, a: float, b: float, angle: float, margin: float, shape):
    """Local grid around an ellipse: returns slices and normalised radius rho (1 at the rim)."""
    h, w = shape
    ext = max(a, b) + margin
    x0, x1 = max(int(cx - ext), 0), min(int(cx + ext) + 2, w)
    y0, y1 = max(int(cy - ext), 0), min(int(cy + ext) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    ca, sa = math.cos(angle), math.sin(angle)
    u = (dx * ca + dy * sa) / a
    v = (-dx * sa + dy * ca) / b
    rho = np.sqrt(u * u + v * v)
    return (slice(y0, y1), slice(x0, x1)), rho, dx, dy


def _soft_disc(rho: np.ndarray, edge: float) -> np.ndarray:
    """1 inside, 0 outside, with a smooth rim ``edge`` (in units of the radius) wide."""
    return np.clip((1.0 - rho) / edge + 0.5, 0.0, 1.0)


def _place(rng, n_target, radii, w, h, touching_frac, max_tries=30):
    """Poisson-disc-like placement: most cells apart, some touching or slightly overlapping."""
    cell = max(radii.max() * 2.0, 4.0)
    grid: dict[tuple[int, int], list[int]] = {}
    centres: list[tuple[float, float]] = []
    kept_r: list[float] = []
    kept_i: list[int] = []
    for i in range(n_target):
        r = float(radii[i])
        for _ in range(max_tries):
            if centres and rng.random() < touching_frac:
                j = int(rng.integers(len(centres)))
                d = (kept_r[j] + r) * rng.uniform(0.78, 0.98)  # touching pair, up to ~20 % overlap
                t = rng.uniform(0, 2 * math.pi)
                x, y = centres[j][0] + d * math.cos(t), centres[j][1] + d * math.sin(t)
                if not (0 <= x < w and 0 <= y < h):
                    continue
                partner = j
            else:
                x, y = rng.uniform(0, w), rng.uniform(0, h)
                partner = -1
            gx, gy = int(x // cell), int(y // cell)
            ok = True
            for ix in range(gx - 1, gx + 2):
                for iy in range(gy - 1, gy + 2):
                    for k in grid.get((ix, iy), ()):
                        if k == partner:
                            continue
                        dd = math.hypot(centres[k][0] - x, centres[k][1] - y)
                        if dd < (kept_r[k] + r) * 1.08:
                            ok = False
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                grid.setdefault((gx, gy), []).append(len(centres))
                centres.append((x, y))
                kept_r.append(r)
                kept_i.append(i)
                break
    return centres, kept_r, kept_i


def generate_smear(
    seed: int = 0,
    width: int = 1280,
    height: int = 960,
    *,
    cell_diameter: float | None = None,
    density: float | None = None,
    n_wbc: int | None = None,
    n_platelets: int | None = None,
    parasitized_fraction: float = 0.1,
    touching_fraction: float | None = None,
    illumination: float | None = None,
    noise: float | None = None,
    blur: float | None = None,
    pale_centre: float | None = None,
    stain: float | None = None,
    irregularity: float | None = None,
) -> SyntheticSmear:
    """Draw one random field. Every ``None`` parameter is drawn from ``seed`` (stain, background too).

    cell_diameter: mean RBC diameter in pixels (default: random 45-80 scaled to the image size).
    density: fraction of the field covered by RBCs (default 0.2-0.45).
    illumination: strength of the uneven-lighting gradient, 0 = flat (default 0.1-0.35).
    stain: RBC stain strength, 1 = typical, 0.45 = very pale (default 0.45-1.4).
    irregularity: outline wobble of RBCs as a fraction of the radius (default 0-0.08).
    """
    rng = np.random.default_rng(seed)
    h, w = int(height), int(width)
    if cell_diameter is None:
        cell_diameter = rng.uniform(45, 80) * max(1.0, min(w, h) / 960.0)
    d = float(cell_diameter)
    r_mean = d / 2.0
    density = rng.uniform(0.2, 0.45) if density is None else density
    touching_fraction = rng.uniform(0.1, 0.25) if touching_fraction is None else touching_fraction
    illumination = rng.uniform(0.1, 0.35) if illumination is None else illumination
    noise = rng.uniform(1.5, 4.0) if noise is None else noise
    blur = rng.uniform(0.4, 1.2) * d / 60.0 if blur is None else blur
    pale_centre = rng.uniform(0.15, 0.6) if pale_centre is None else pale_centre

    # Stain: RBC OD mostly in green (pink/red), varied per lab; nuclei/parasites are purple-blue.
    stain = rng.uniform(0.45, 1.4) if stain is None else stain
    irregularity = rng.uniform(0.0, 0.08) if irregularity is None else irregularity
    rbc_od = np.array([0.05, 0.30, 0.16]) * stain + rng.uniform(-0.03, 0.06, 3)
    rbc_od = np.clip(rbc_od, 0.02, None).astype(np.float32)
    nuc_od = (np.array([0.75, 0.95, 0.35]) * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1, 3)).astype(np.float32)
    background = rng.uniform(200, 245) + rng.uniform(-18, 12, 3)
    background = np.clip(background, 150, 252).astype(np.float32)

    od = np.zeros((h, w, 3), np.float32)
    cells: list[TrueCell] = []

    def on_edge(cx, cy, ext):
        return cx - ext < 0 or cy - ext < 0 or cx + ext > w - 1 or cy + ext > h - 1

    # --- RBCs
    area = w * h
    n_rbc = int(density * area / (math.pi * r_mean * r_mean))
    radii = np.clip(rng.normal(r_mean, 0.07 * r_mean, n_rbc), 0.75 * r_mean, 1.3 * r_mean)
    wbc_count = int(rng.integers(0, 3)) if n_wbc is None else n_wbc
    wbc_r = rng.uniform(1.5, 2.1, wbc_count) * r_mean
    all_r = np.concatenate([wbc_r, radii])
    centres, kept, kept_i = _place(rng, len(all_r), all_r, w, h, touching_fraction)
    for i, (cx, cy), r in zip(kept_i, centres, kept):
        if i < wbc_count:
            _draw_wbc(od, rng, cx, cy, r, rbc_od, nuc_od)
            cells.append(TrueCell((cx, cy), r, "wbc", False, (r, r), 0.0, on_edge(cx, cy, r)))
            continue
        ell = rng.uniform(1.0, 1.18)
        a, b = r * math.sqrt(ell), r / math.sqrt(ell)
        ang = rng.uniform(0, math.pi)
        got = _ellipse_patch(cx, cy, a, b, ang, 3.0, (h, w))
        if got is None:
            continue
        sl, rho, dx, dy = got
        wobble, lobes, phase = rng.uniform(0, irregularity), int(rng.integers(2, 6)), rng.uniform(0, 2 * math.pi)
        if wobble > 0.005:  # irregular outline (poikilocytes, drying artefacts): rho scaled by angle
            rho = rho / (1.0 + wobble * np.cos(lobes * np.arctan2(dy, dx) + phase)).astype(np.float32)
        edge = max(1.5 / r, 0.04)
        disc = _soft_disc(rho, edge)
        thick = disc * (1.0 - pale_centre * rng.uniform(0.6, 1.2) * np.exp(-((rho / 0.5) ** 2)))
        thick *= rng.uniform(0.85, 1.15)
        od[sl] += thick[..., None] * rbc_od
        parasitized = bool(rng.random() < parasitized_fraction)
        if parasitized:
            _draw_ring(od, rng, cx, cy, min(a, b), nuc_od)
        cells.append(TrueCell((cx, cy), float(math.sqrt(a * b)), "rbc", parasitized, (a, b),
                              math.degrees(ang), on_edge(cx, cy, max(a, b))))

    # --- platelets: tiny purple dots, sometimes in small clumps, never counted as RBCs
    n_plt = int(rng.integers(2, 12) * area / (1280 * 960) * (60 / d) ** 2) if n_platelets is None else n_platelets
    occupied = np.array(centres, np.float64).reshape(-1, 2)
    occ_r = np.array(kept, np.float64) * 1.2  # ellipses and WBC lobes reach a little past r
    for _ in range(n_plt):
        pr = r_mean * rng.uniform(0.08, 0.16)
        for _try in range(20):  # on the glass only, so "platelets are not counted" can be tested cleanly
            px, py = rng.uniform(0, w), rng.uniform(0, h)
            if not occupied.size or np.all(np.hypot(occupied[:, 0] - px, occupied[:, 1] - py) >= occ_r + 2 * pr + 2):
                break
        else:
            continue
        got = _ellipse_patch(px, py, pr * 1.2, pr, rng.uniform(0, math.pi), 2.0, (h, w))
        if got is None:
            continue
        sl, rho, _, _ = got
        od[sl] += _soft_disc(rho, max(1.0 / pr, 0.2))[..., None] * nuc_od * 0.8
        cells.append(TrueCell((px, py), pr, "platelet", False, (pr * 1.2, pr), 0.0, on_edge(px, py, pr)))

    # --- optics: light source, illumination gradient, blur, noise
    img = od  # everything in place from here on: a 5312x2988 field is ~190 MB per float copy
    img *= np.float32(-math.log(10.0))
    cv2.exp(img, dst=img)
    gy, gx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    t = rng.uniform(0, 2 * math.pi)
    lin = ((gx / w - 0.5) * math.cos(t) + (gy / h - 0.5) * math.sin(t))
    vig = ((gx / w - rng.uniform(0.3, 0.7)) ** 2 + (gy / h - rng.uniform(0.3, 0.7)) ** 2)
    field = 1.0 - illumination * (lin + 0.5) * 0.6 - illumination * vig * 0.8
    field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    img *= field[..., None]
    img *= background[None, None, :]
    if blur > 0.05:
        cv2.GaussianBlur(img, (0, 0), blur, dst=img)
    grain = np.empty((h, w), np.float32)  # sensor noise, shared by the channels (a third of the cost)
    cv2.setRNGSeed(int(rng.integers(2**31 - 1)))  # cv2's RNG is much faster than numpy's here
    cv2.randn(grain, 0.0, float(noise))
    img += grain[..., None]
    np.clip(img, 0.0, 255.0, out=img)
    image = cv2.convertScaleAbs(img)  # rounding conversion to uint8
    return SyntheticSmear(image=image, cells=tuple(cells), cell_diameter_px=d)


def _draw_wbc(od, rng, cx, cy, r, rbc_od, nuc_od):
    """A leukocyte: pale bluish cytoplasm with a large dark purple lobed nucleus."""
    got = _ellipse_patch(cx, cy, r, r * rng.uniform(0.9, 1.0), rng.uniform(0, math.pi), 3.0, od.shape[:2])
    if got is None:
        return
    sl, rho, dx, dy = got
    cyto = _soft_disc(rho, max(1.5 / r, 0.04))
    od[sl] += cyto[..., None] * np.array([0.12, 0.10, 0.04], np.float32) * rng.uniform(0.8, 1.5)
    nucleus = np.zeros_like(rho)
    for _ in range(int(rng.integers(2, 5))):
        t, rr = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.4) * r
        lx, ly = rr * math.cos(t), rr * math.sin(t)
        lr = rng.uniform(0.3, 0.45) * r
        nucleus = np.maximum(nucleus, _soft_disc(np.sqrt((dx - lx) ** 2 + (dy - ly) ** 2) / lr, 0.15))
    od[sl] += (nucleus * cyto)[..., None] * nuc_od * rng.uniform(0.8, 1.1)


def _draw_ring(od, rng, cx, cy, r, nuc_od):
    """Ring-stage trophozoite: thin purple ring plus one or two dark chromatin dots."""
    t, off = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 0.55) * r
    px, py = cx + off * math.cos(t), cy + off * math.sin(t)
    rr = rng.uniform(0.14, 0.22) * r
    got = _ellipse_patch(px, py, rr, rr * rng.uniform(0.7, 1.0), rng.uniform(0, math.pi), 3.0, od.shape[:2])
    if got is None:
        return
    sl, rho, dx, dy = got
    width = max(0.18, 1.2 / rr)
    ring = np.clip(1.0 - np.abs(rho - 1.0) / width, 0.0, 1.0)
    od[sl] += ring[..., None] * nuc_od * 0.55
    for _ in range(int(rng.integers(1, 3))):
        ct = rng.uniform(0, 2 * math.pi)
        cr = max(rr * rng.uniform(0.3, 0.45), 1.2)
        dot = np.clip(1.0 - np.sqrt((dx - rr * math.cos(ct)) ** 2 + (dy - rr * math.sin(ct)) ** 2) / cr, 0, 1)
        od[sl] += np.sqrt(dot)[..., None] * nuc_od * 0.9


def write_synthetic_smear(path: str | Path, seed: int = 0, width: int = 1280, height: int = 960,
                          **variation) -> SyntheticSmear:
    """Generate a field and write it as PNG (or any suffix OpenCV writes); returns the ground truth."""
    smear = generate_smear(seed=seed, width=width, height=height, **variation)
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(smear.image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix!r}")
    path.write_bytes(buf.tobytes())
    return smear
