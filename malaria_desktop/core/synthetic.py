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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

CellKind = Literal["rbc", "wbc", "platelet"]
StainKind = Literal["magenta", "grey", "beige"]
# RBC optical density per RGB channel at stain 1, and the glass colour, of three stain looks seen in labs
_STAINS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "magenta": ((0.07, 0.34, 0.11), (232.0, 226.0, 236.0)),
    "grey": ((0.19, 0.21, 0.18), (222.0, 222.0, 224.0)),
    "beige": ((0.04, 0.11, 0.19), (238.0, 236.0, 230.0)),
}


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
    occluded: bool = False  # mostly outside the frame or under a burned-in label: "don't care" in scoring


@dataclass(frozen=True, eq=False)
class SyntheticSmear:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    cells: tuple[TrueCell, ...]
    cell_diameter_px: float
    annotation: np.ndarray | None = None  # bool (H, W): burned-in scale bar / text pixels, if any

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
    for i, (cx, cy), r in zip(kept_i, centres, kept, strict=True):
        if i < wbc_count:
            _draw_wbc(od, rng, cx, cy, r, rbc_od, nuc_od)
            cells.append(TrueCell((cx, cy), r, "wbc", False, (r, r), 0.0, on_edge(cx, cy, r)))
            continue
        cell = _draw_rbc(od, rng, cx, cy, r, rbc_od, nuc_od, pale_centre, irregularity, parasitized_fraction)
        if cell is not None:
            cells.append(cell)

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

    image = _optics(od, rng, illumination, background, blur, noise)
    return SyntheticSmear(image=image, cells=tuple(cells), cell_diameter_px=d)


def _draw_rbc(od, rng, cx, cy, r, rbc_od, nuc_od, pale_centre, irregularity, parasitized_fraction,
              pallor_min: float = 0.0) -> TrueCell | None:
    """One red cell (optionally with a ring-stage parasite) added to ``od``; None if fully off the field."""
    h, w = od.shape[:2]
    ell = rng.uniform(1.0, 1.18)
    a, b = r * math.sqrt(ell), r / math.sqrt(ell)
    ang = rng.uniform(0, math.pi)
    got = _ellipse_patch(cx, cy, a, b, ang, 3.0, (h, w))
    if got is None:
        return None
    sl, rho, dx, dy = got
    wobble, lobes, phase = rng.uniform(0, irregularity), int(rng.integers(2, 6)), rng.uniform(0, 2 * math.pi)
    if wobble > 0.005:  # irregular outline (poikilocytes, drying artefacts): rho scaled by angle
        rho = rho / (1.0 + wobble * np.cos(lobes * np.arctan2(dy, dx) + phase)).astype(np.float32)
    edge = max(1.5 / r, 0.04)
    disc = _soft_disc(rho, edge)
    thick = disc * np.maximum(1.0 - pale_centre * rng.uniform(0.6, 1.2) * np.exp(-((rho / 0.5) ** 2)), pallor_min)
    thick *= rng.uniform(0.85, 1.15)
    od[sl] += thick[..., None] * rbc_od
    parasitized = bool(rng.random() < parasitized_fraction)
    if parasitized:
        _draw_ring(od, rng, cx, cy, min(a, b), nuc_od)
    reach = max(a, b)
    cut = cx - reach < 0 or cy - reach < 0 or cx + reach > w - 1 or cy + reach > h - 1
    return TrueCell((cx, cy), float(math.sqrt(a * b)), "rbc", parasitized, (a, b), math.degrees(ang), cut)


def _optics(od, rng, illumination, background, blur, noise) -> np.ndarray:
    """OD (modified in place) -> uint8 RGB: light source, illumination gradient, blur, sensor noise."""
    h, w = od.shape[:2]
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
    cv2.randn(grain, 0.0, float(noise))  # type: ignore[call-overload]
    img += grain[..., None]
    np.clip(img, 0.0, 255.0, out=img)
    return cv2.convertScaleAbs(img)  # rounding conversion to uint8


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


def generate_dense_smear(
    seed: int = 0,
    width: int = 1280,
    height: int = 960,
    *,
    cell_diameter: float | None = None,
    cover: float | None = None,
    stain_kind: StainKind | None = None,
    stain: float | None = None,
    pale_centre: float | None = None,
    n_wbc: int | None = None,
    scale_bar: bool = True,
    text: bool = True,
    parasitized_fraction: float = 0.05,
    illumination: float | None = None,
    noise: float | None = None,
    blur: float | None = None,
) -> SyntheticSmear:
    """A crowded field: 70-90 % of the glass covered, most red cells touching their neighbours.

    Pale centres keep at least 20 % of the rim's stain (a red cell is thinner there, not empty).
    Cells sit on a jittered hexagonal lattice (random orientation, some sites empty) that runs past
    the border, so cut cells and thin slivers appear as on a real field. Strong central pallor, one of
    three stain looks, and optionally a burned-in scale bar with a "50 um" label and a text note (drawn
    unblurred onto the final pixels, like a camera overlay). Red cells mostly outside the frame (< 50 %
    visible) or mostly under the overlay are ``occluded`` (don't care when scoring).
    cell_diameter: 40-90 px by default; cover: 0.7-0.9 by default.
    """
    rng = np.random.default_rng(seed)
    h, w = int(height), int(width)
    d = float(rng.uniform(40, 90) if cell_diameter is None else cell_diameter)
    r_mean = d / 2.0
    cover = float(rng.uniform(0.7, 0.9) if cover is None else cover)
    kind = stain_kind or ("magenta", "grey", "beige")[int(rng.integers(3))]
    stain = float(rng.uniform(0.6, 1.3) if stain is None else stain)
    pale_centre = float(rng.uniform(0.7, 0.95) if pale_centre is None else pale_centre)
    illumination = float(rng.uniform(0.05, 0.3) if illumination is None else illumination)
    noise = float(rng.uniform(1.5, 4.0) if noise is None else noise)
    blur = float(rng.uniform(0.4, 1.0) * d / 60.0 if blur is None else blur)
    base, glass = _STAINS[kind]
    rbc_od = np.clip(np.array(base) * stain + rng.uniform(-0.02, 0.03, 3), 0.02, None).astype(np.float32)
    nuc_od = (np.array([0.75, 0.95, 0.35]) * rng.uniform(0.8, 1.2)).astype(np.float32)
    background = np.clip(np.array(glass) + rng.uniform(-12, 8, 3), 150, 252).astype(np.float32)

    # lattice: spacing ~ one diameter (touching), empty sites tuned to reach the wanted cover
    spacing = d * rng.uniform(1.0, 1.08)
    full = math.pi * r_mean ** 2 / (spacing ** 2 * math.sqrt(3) / 2)  # cover of a complete lattice
    vacancy = float(np.clip(1.0 - cover / min(full, 0.9), 0.0, 0.6))
    t = rng.uniform(0, math.pi / 3)
    ext = int(max(w, h) / spacing) + 3
    ii, jj = np.mgrid[-ext : ext + 1, -ext : ext + 1]
    lx = (ii + 0.5 * (jj % 2)) * spacing
    ly = jj * spacing * math.sqrt(3) / 2
    xs = w / 2 + lx * math.cos(t) - ly * math.sin(t) + rng.normal(0, 0.03 * spacing, lx.shape)
    ys = h / 2 + lx * math.sin(t) + ly * math.cos(t) + rng.normal(0, 0.03 * spacing, lx.shape)
    sites = [(float(x), float(y)) for x, y in zip(xs.ravel(), ys.ravel(), strict=True)
             if -r_mean < x < w + r_mean and -r_mean < y < h + r_mean and rng.random() >= vacancy]

    od = np.zeros((h, w, 3), np.float32)
    cells: list[TrueCell] = []
    wbc_count = int(rng.integers(0, 3)) if n_wbc is None else n_wbc
    wbcs = []
    for _ in range(wbc_count):
        wx, wy, wr = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1.4, 1.9) * r_mean
        _draw_wbc(od, rng, wx, wy, wr, rbc_od, nuc_od)
        wbcs.append((wx, wy, wr))
        cut = wx - wr < 0 or wy - wr < 0 or wx + wr > w - 1 or wy + wr > h - 1
        cells.append(TrueCell((wx, wy), wr, "wbc", False, (wr, wr), 0.0, cut))
    for x, y in sites:
        if any(math.hypot(x - wx, y - wy) < wr + 0.6 * r_mean for wx, wy, wr in wbcs):
            continue
        r = float(np.clip(rng.normal(r_mean, 0.05 * r_mean), 0.85 * r_mean, 1.12 * r_mean))
        cell = _draw_rbc(od, rng, x, y, r, rbc_od, nuc_od, pale_centre, 0.04, parasitized_fraction, 0.2)
        if cell is not None:
            cells.append(cell)
    image = _optics(od, rng, illumination, background, blur, noise)
    annotation = _burn_in(image, rng, d, scale_bar, text) if (scale_bar or text) else None
    cells = [_with_occlusion(c, w, h, annotation) if c.kind == "rbc" else c for c in cells]
    return SyntheticSmear(image=image, cells=tuple(cells), cell_diameter_px=d, annotation=annotation)


def _burn_in(image: np.ndarray, rng, d: float, scale_bar: bool, text: bool) -> np.ndarray:
    """Draw a scale bar + label and a text note onto ``image`` (in place, OpenCV drawing, no blur);
    returns the bool mask of the drawn pixels. Colours: black, dark grey or a saturated primary."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    colours = [(0, 0, 0), (40, 40, 40), (0, 0, 255), (255, 0, 0), (0, 170, 0), (230, 230, 0)]
    font = cv2.FONT_HERSHEY_SIMPLEX
    if scale_bar:
        col = colours[int(rng.integers(len(colours)))]
        length, thick = int(rng.uniform(1.5, 4.0) * d), int(rng.uniform(4, 12))
        right, bottom = bool(rng.random() < 0.7), bool(rng.random() < 0.7)
        x0 = w - 20 - length if right else 20
        y0 = h - 25 - thick if bottom else 55
        fs = float(rng.uniform(0.8, 1.4))
        for target, c in ((image, col), (mask, 1)):
            cv2.rectangle(target, (x0, y0), (x0 + length, y0 + thick), c, cv2.FILLED)
            cv2.putText(target, "50 um", (x0, y0 - 10), font, fs, c, 2, cv2.LINE_AA)
    if text:
        col = colours[int(rng.integers(len(colours)))]
        note = ("x100 oil", "Giemsa 10%", "slide 17-B", "P. vivax ?")[int(rng.integers(4))]
        fs = float(rng.uniform(0.8, 1.5))
        org = (20, 40) if rng.random() < 0.5 else (w // 2 - 80, 40)
        for target, c in ((image, col), (mask, 1)):
            cv2.putText(target, note, org, font, fs, c, 2, cv2.LINE_AA)
    return mask.astype(bool)


def _with_occlusion(c: TrueCell, w: int, h: int, annotation: np.ndarray | None) -> TrueCell:
    """Mark a red cell "don't care" when < 50 % of it is inside the frame or > 25 % is under the overlay."""
    cx, cy = c.centroid
    r = c.radius
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return replace(c, occluded=True)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    visible = inside.sum() / (math.pi * r * r)
    hidden = annotation[y0:y1, x0:x1][inside].mean() if annotation is not None and inside.any() else 0.0
    return replace(c, occluded=bool(visible < 0.5 or hidden > 0.25)) if visible < 0.5 or hidden > 0.25 else c
