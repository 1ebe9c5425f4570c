"""Typical red-cell diameter of a field, from several estimators that fail in different ways.

Why a consensus: one blob-size statistic is fooled by crowded fields (touching cells read as one big
cell, the old failure: 1.5-4x the true size) or by pale centres (a ring reads as a thin cell). So:
- ``peaks``: heights of distance-transform peaks (one per cell, also inside a sheet of touching cells
  once the glass gaps between them are cut out), weighted by height squared (~cell area, so ragged
  outlines and platelets weigh little);
- ``isolated``: equivalent diameter of the cleanest isolated cells (convex blobs whose area matches a
  disc of their distance-transform radius);
- ``blobs``: the older area-weighted median of per-blob distance-transform maxima.
Crowded fields (> 55 % cover) are measured again at twice the resolution with the glass gaps between
packed cells cut out; there ``peaks`` and ``isolated`` decide. On other fields ``blobs`` decides (it
was measured best there: Chula recall 0.983); disagreement gives a per-image warning. The segmenter then
checks the chosen size against its own segments (``segmentation.FIT_LOW``: segments thinner than cells of
that size mean the size was too big, and it segments again at the corrected size).
All image work is OpenCV (resize, distance transform, connected components): fast on a small copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from malaria_desktop.core.segmentation.foreground import foreground, resize
from malaria_desktop.core.segmentation.options import SegmentationOptions

CROWDED = 0.55  # foreground cover above which a field is crowded: measured again at twice the resolution
BLOB_CLUMPS = 1.6  # blob maxima this many times the peaks: the blobs are clumps of overlapping cells
DISAGREE = 0.25  # estimators further apart than this (relative) trigger a warning


@dataclass(frozen=True)
class SizeEstimate:
    diameter: float  # original pixels; 0 = no cells found
    estimates: dict[str, float] = field(default_factory=dict)  # each estimator's diameter (original px)
    crowded: bool = False  # > 55 % of the field covered: gap cutting and pale-centre seeds are used

    @property
    def agree(self) -> bool:
        """False when the deciding estimators differ by > 25 %, or when only the peaks answered and the
        blob maxima differ from them by > 50 % (a field of clumps with no clean single cell)."""
        p, i, b = (self.estimates.get(k, 0.0) for k in ("peaks", "isolated", "blobs"))
        if p > 0 and i > 0:
            return abs(p - i) <= DISAGREE * max(p, i)
        if p > 0 and b > 0:
            return abs(p - b) <= 2 * DISAGREE * max(p, b)
        return True


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _estimates(mask: np.ndarray, smallest: float) -> dict[str, float]:
    """Each estimator's diameter at the scale of ``mask`` (0 where it has no answer); ``smallest`` is the
    smallest cell diameter expected there (clean blobs under 60 % of it are specks, not cells)."""
    dist = cv2.distanceTransform(cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                 cv2.DIST_L2, 5)[1:-1, 1:-1]
    out = {"peaks": 0.0, "isolated": 0.0, "blobs": 0.0}
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return out
    radii = np.zeros(n, np.float32)
    np.maximum.at(radii, lab[mask > 0], dist[mask > 0])  # type: ignore[arg-type]
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    ok = radii >= 1.5
    ok[0] = False
    if ok.any():
        out["blobs"] = 2.0 * _weighted_median(radii[ok], areas[ok]) + 1.0
    sm = cv2.GaussianBlur(dist, (0, 0), 0.8)
    peak = (sm >= cv2.dilate(sm, np.ones((5, 5), np.uint8)) - 1e-4) & (sm >= 1.5)
    vals = sm[peak]
    if vals.size:
        out["peaks"] = 2.0 * _weighted_median(vals, vals.astype(np.float64) ** 2) + 1.0
    disc = np.pi * (radii + 0.5) ** 2
    clean = ok & (areas >= 0.75 * disc) & (areas <= 1.3 * disc) & (radii >= 0.3 * smallest)
    clean &= (stats[:, cv2.CC_STAT_LEFT] > 0) & (stats[:, cv2.CC_STAT_TOP] > 0)
    clean &= (stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH] < mask.shape[1])
    clean &= (stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] < mask.shape[0])
    if clean.sum() >= 5:
        out["isolated"] = float(np.median(2.0 * np.sqrt(areas[clean] / np.pi)))
    return out


def _consensus(raw: dict[str, float]) -> float:
    """Peaks and clean isolated cells decide (mean of the two when both answer and agree, median of all
    three when they disagree); the blob maxima, which crowding inflates, decide alone only when neither of
    the others has an answer."""
    good = [raw[k] for k in ("peaks", "isolated") if raw.get(k, 0) > 0]
    if len(good) == 2 and abs(good[0] - good[1]) > DISAGREE * max(good):
        return float(np.median([v for v in raw.values() if v > 0]))  # the two disagree: all three vote
    if good:
        return float(np.mean(good))
    return float(raw.get("blobs", 0.0))


def _sparse_choice(raw: dict[str, float]) -> float:
    """Fields that are not crowded: the blob maxima decide, unless peaks and clean isolated cells agree
    with each other and not with them, or the blobs are >= 1.6x the peaks (overlapping pairs everywhere
    inflate the blob maxima, BCCD)."""
    b, p, i = raw.get("blobs", 0.0), raw.get("peaks", 0.0), raw.get("isolated", 0.0)
    if p > 0 and i > 0 and abs(p - i) <= DISAGREE * max(p, i):
        m = 0.5 * (p + i)
        if not b or abs(b - m) > DISAGREE * max(b, m):
            return m
    if b > BLOB_CLUMPS * p > 0:  # blobs of two or more overlapping cells everywhere: trust the peaks
        return p
    return b or _consensus(raw)


def estimate_size(image: np.ndarray, opts: "SegmentationOptions") -> SizeEstimate:
    """Consensus diameter (original pixels), measured on a copy where cells are >= ~14 px across."""
    h, w = image.shape[:2]
    long_side = max(480.0, max(h, w) * 14.0 / opts.smallest_diameter_px)
    est: dict[str, float] = {}
    d = 0.0
    crowded = False
    sparse_opts = replace(opts, gap_od_frac=0.0)
    for _ in range(4):
        s = min(1.0, long_side / max(h, w))
        small = resize(image, (max(int(w * s), 1), max(int(h * s), 1))) if s < 1 else image
        _, mask, _ = foreground(small, None, opts if crowded else sparse_opts,
                                smallest=max(opts.smallest_diameter_px * s, 4.0))
        raw = _estimates(mask, opts.smallest_diameter_px * s)
        if not crowded and mask.mean() >= CROWDED and opts.gap_od_frac > 0:
            crowded = True  # gaps between packed cells vanish on a small copy: look twice as close, but
            # on no more pixels than the segmenter's working image may have (speed on 16 MP fields)
            cap = max(h, w) * float(np.sqrt(opts.max_work_pixels / (h * w)))
            long_side = max(long_side, min(2.0 * long_side, cap)) if s < 1.0 else long_side
            continue
        est = {k: v / s for k, v in raw.items() if v > 0}
        if not est:
            return SizeEstimate(0.0, {})
        d_small = _consensus(raw) if crowded else _sparse_choice(raw)
        d = d_small / s
        if d_small >= 16 or s >= 1.0:
            break
        long_side *= min(4.0, 24.0 / d_small)  # cells too small to measure here: look closer
    return SizeEstimate(d, est, crowded)
