"""Composite infected fields: NIH parasitized cells pasted into other labs' whole fields, with known positions.

Why: no licensed whole field with infected cells exists here, yet what a patient gets is the count over
whole fields, and an infected cell that segmentation never outlines can never be reviewed back. So NIH
parasitized crops (their black background is the mask) are pasted into Chula RBC-12 / BCCD fields:
re-coloured to the field's own red cells (Reinhard in L*a*b*, ``training.stain.transfer_colour`` with the
NIH contrast ratio so the parasite stays as prominent as it was), scaled to the field's cell size, and
placed next to neighbours (touching), at the field edge and alone. Variants imitate what P. vivax does
to a cell and what broke the engine on real fields: ``enlarged`` (1.3-1.6x, paler), ``filled`` (a dark
parasite mass over most of the cell, like a schizont or gametocyte), ``stippled`` (Schueffner-like dots).

Numpy + OpenCV only (no TensorFlow): benchmarks import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.stain import transfer_colour

VARIANTS = ("plain", "enlarged", "filled", "stippled")
PLACES = ("touching", "edge", "alone")


@dataclass(frozen=True)
class Pasted:
    """One pasted infected cell: its mask in field pixels and how it was made."""

    centre: tuple[float, float]  # (x, y) of the mask's centroid
    bbox: tuple[int, int, int, int]  # (x, y, w, h) of the mask, clipped to the field
    mask: np.ndarray  # bool (h, w)
    variant: str
    place: str
    source: str  # the NIH file it came from


def cell_mask(crop: np.ndarray) -> np.ndarray:
    """The NIH convention: pixels that are not (near) black are the cell; the biggest blob, holes filled."""
    m = (crop.max(axis=2) > 8).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    m = (lab == big).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(m, contours, -1, 1, -1)
    return m.astype(bool)


def _variant(crop: np.ndarray, mask: np.ndarray, variant: str, glass: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Alter a re-coloured crop the way the variant says (the cell's own pixels only)."""
    out = crop.astype(np.float32)
    if variant == "enlarged":  # a larger cell holds less haemoglobin per area: paler (towards the glass)
        out = out + (glass - out) * rng.uniform(0.15, 0.4)
    elif variant == "filled":  # a dark parasite mass over most of the cell
        h, w = mask.shape
        blob = np.zeros((h, w), np.float32)
        cy, cx = np.argwhere(mask).mean(axis=0)
        axes = (max(2, int(w * rng.uniform(0.28, 0.38))), max(2, int(h * rng.uniform(0.28, 0.38))))
        cv2.ellipse(blob, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), max(1.0, w / 20))
        blob *= np.clip(0.6 + noise, 0, 1)
        dark = np.array([70.0, 40.0, 110.0], np.float32) * rng.uniform(0.8, 1.2)  # Giemsa chromatin/pigment
        a = (rng.uniform(0.55, 0.8) * cv2.GaussianBlur(blob, (0, 0), 1.0))[..., None]
        out = out * (1 - a) + dark * a
    elif variant == "stippled":  # many fine pink-purple dots over a paler cell
        out = out + (glass - out) * rng.uniform(0.0, 0.2)
        ys, xs = np.nonzero(mask)
        k = min(len(ys), int(rng.integers(25, 60)))
        pick = rng.choice(len(ys), k, replace=False)
        r = max(1, int(round(mask.shape[1] / 40)))
        for y, x in zip(ys[pick], xs[pick], strict=True):
            cv2.circle(out, (int(x), int(y)), r, (150.0, 70.0, 120.0), -1)
    out = np.clip(out, 1, 255).astype(np.uint8)
    out[~mask] = 0
    return out


def prepare_cell(crop: np.ndarray, diameter: float, target: np.ndarray, source_std: np.ndarray, variant: str,
                 glass: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB patch, bool mask) of one NIH crop at the field's cell size and stain, altered per variant."""
    mask = cell_mask(crop)
    eq = 2.0 * np.sqrt(max(int(mask.sum()), 1) / np.pi)
    scale = diameter * (rng.uniform(1.3, 1.6) if variant == "enlarged" else rng.uniform(0.9, 1.1)) / eq
    h, w = mask.shape
    size = (max(4, int(round(w * scale))), max(4, int(round(h * scale))))
    src = crop.copy()  # outside the cell: its mean colour, so resizing does not darken the rim
    src[~mask] = crop[mask].mean(axis=0).astype(np.uint8) if mask.any() else 0
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(src, size, interpolation=interp)
    m = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5
    patch[~m] = 0
    patch[m & (patch.max(axis=2) == 0)] = 1
    patch = transfer_colour(patch[None], target[None], source_std)[0]
    return _variant(patch, m, variant, glass, rng), m


def _spot(cover: np.ndarray, d: float, m: np.ndarray, place: str, centres: np.ndarray,
          rng: np.random.Generator, tries: int = 300) -> tuple[int, int] | None:
    """Top-left corner for mask ``m`` where it overlaps little of the cells already there, by place."""
    H, W = cover.shape
    h, w = m.shape
    for _ in range(tries):
        if place == "edge":  # centre within a third of a cell of one border: the cell is cut
            side = rng.integers(4)
            cx = rng.uniform(0, W) if side < 2 else (rng.uniform(-0.3, 0.3) * d + (0 if side == 2 else W))
            cy = rng.uniform(0, H) if side >= 2 else (rng.uniform(-0.3, 0.3) * d + (0 if side == 0 else H))
        elif place == "touching" and len(centres):
            c = centres[rng.integers(len(centres))]
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.85, 1.0) * (d + max(h, w)) / 2.0
            cx, cy = c[0] + dist * np.cos(ang), c[1] + dist * np.sin(ang)
        else:
            cx, cy = rng.uniform(w / 2, W - w / 2), rng.uniform(h / 2, H - h / 2)
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
        if xb - xa < w * 0.45 or yb - ya < h * 0.45:
            continue
        sub = m[ya - y0 : yb - y0, xa - x0 : xb - x0]
        inside = int(sub.sum())
        if inside < 0.4 * m.sum():
            continue
        overlap = int((cover[ya:yb, xa:xb] & sub).sum())
        limit = 0.12 if place == "touching" else 0.03
        if overlap <= limit * inside and (place != "touching" or overlap > 0 or _near(cover, xa, ya, xb, yb)):
            return x0, y0
    return None


def _near(cover: np.ndarray, xa: int, ya: int, xb: int, yb: int) -> bool:
    """Something else lies within two pixels of the box (touching, not overlapping)."""
    H, W = cover.shape
    return bool(cover[max(ya - 2, 0) : min(yb + 2, H), max(xa - 2, 0) : min(xb + 2, W)].any())


def paste(field: np.ndarray, cover: np.ndarray, patch: np.ndarray, m: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Blend the patch in with a one-pixel feathered rim (a hard cut edge would be an easy tell)."""
    H, W = field.shape[:2]
    h, w = m.shape
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    alpha = cv2.GaussianBlur(m.astype(np.float32), (3, 3), 0.7)[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    p = patch[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32)
    # the rim: where alpha < 1 the pasted colour is undefined (black), so use the cell's own colour there
    mean = p[m[ya - y0 : yb - y0, xa - x0 : xb - x0]].mean(axis=0) if m.any() else np.zeros(3)
    p = np.where(p.max(axis=2, keepdims=True) > 0, p, mean)
    region = field[ya:yb, xa:xb].astype(np.float32)
    field[ya:yb, xa:xb] = np.clip(region * (1 - alpha) + p * alpha, 0, 255).astype(np.uint8)
    cover[ya:yb, xa:xb] |= m[ya - y0 : yb - y0, xa - x0 : xb - x0]
    return field


def compose(field: np.ndarray, cover: np.ndarray, diameter: float, target: np.ndarray, source_std: np.ndarray,
            crops: list[tuple[str, np.ndarray]], centres: np.ndarray, seed: int) -> tuple[np.ndarray, list[Pasted]]:
    """Paste ``crops`` (name, NIH RGB crop) into a copy of ``field``; variants and places cycle.

    cover: bool map of what is already cell (the engine's own outlines and the truth points' cells).
    centres: (K, 2) centres of the field's cells, for touching placements.
    """
    rng = np.random.default_rng(seed)
    glass = np.median(field[~cover], axis=0).astype(np.float32) if (~cover).any() else np.full(3, 230.0, np.float32)
    out, cover = field.copy(), cover.copy()
    pasted: list[Pasted] = []
    H, W = cover.shape
    for k, (name, crop) in enumerate(crops):
        variant, place = VARIANTS[k % len(VARIANTS)], PLACES[(k // len(VARIANTS) + k) % len(PLACES)]
        patch, m = prepare_cell(crop, diameter, target, source_std, variant, glass, rng)
        spot = _spot(cover, diameter, m, place, centres, rng)
        if spot is None:
            continue
        x0, y0 = spot
        out = paste(out, cover, patch, m, x0, y0)
        h, w = m.shape
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
        sub = m[ya - y0 : yb - y0, xa - x0 : xb - x0]
        ys, xs = np.nonzero(sub)
        pasted.append(Pasted((float(xa + xs.mean()), float(ya + ys.mean())), (xa, ya, xb - xa, yb - ya), sub.copy(),
                             variant, place, name))
    return out, pasted
