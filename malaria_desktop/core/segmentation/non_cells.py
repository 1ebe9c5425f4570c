"""Which segments are not red cells: burned-in labels, glass gaps, border slivers, white-cell pieces.

Why per segment, after the split: each rule needs the segment's own numbers (area, mean stain, colour,
thickness) measured against the typical cell of this image, which only exists once cells are found.
Documented limits (fractions of the typical RBC area of the image):
- a cell cut by the image border is kept only if at least ``min_edge_area_frac`` (default 0.3, i.e.
  30 %) of a typical cell lies inside the frame and it is at least 0.2 diameters thick; smaller border
  slivers are dropped;
- a segment whose mean optical density is under ``pale_od_frac`` (0.45) of the median segment's is glass
  (the triangle between packed cells) or a ghost, not a stained red cell;
- a segment with 25 % or more "overlay" pixels (near-black, or saturated far beyond any stain: burned-in
  scale bars, text, arrows) is an annotation;
- a segment cut by the border that is 35 % or more nucleus is a piece of a white cell;
- on crowded fields, a segment under 60 % of a typical cell that is concave (solidity < 0.8) is the
  glass and overlapping rims between packed cells.
"""

from __future__ import annotations

import cv2
import numpy as np


def overlay_pixels(rgb: np.ndarray) -> np.ndarray:
    """Pixels no stain makes: near-black, or strongly saturated (a pure primary colour), as uint8.

    OpenCV's HSV conversion gives saturation as (max - min) / max; Giemsa-stained cells stay far from
    both ends (saturation < ~0.6, value > ~60) even when dark.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    s, v = hsv[..., 1], hsv[..., 2]
    return ((v < 45) | ((s > 200) & (v > 60))).astype(np.uint8)


def overlay_mask(rgb: np.ndarray, d: float) -> np.ndarray:
    """Burned-in labels to cut out of the foreground before splitting, as uint8: overlay pixels (see
    ``overlay_pixels``) grouped into words and bars by a small closing, kept where the group is long
    (>= 0.4 diameters) or big (>= 10 % of a cell). Parasite chromatin dots are far smaller, so they stay."""
    over = overlay_pixels(rgb)
    if not over.any():
        return over
    r = max(1, int(round(0.06 * d)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    grouped = cv2.morphologyEx(over, cv2.MORPH_CLOSE, k)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    side = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    big = (side >= 0.4 * d) | (stats[:, cv2.CC_STAT_AREA] >= 0.1 * np.pi * (d / 2.0) ** 2)
    big[0] = False
    return cv2.dilate((big[lab] & (grouped > 0)).astype(np.uint8), k)


def non_cell_labels(labels: np.ndarray, n: int, area: np.ndarray, od: np.ndarray, rgb: np.ndarray,
                    nucleus: np.ndarray | None, on_edge: np.ndarray, thickness: np.ndarray, d: float, *,
                    min_edge_area_frac: float = 0.3, pale_od_frac: float = 0.45,
                    boxes: np.ndarray | None = None) -> np.ndarray:
    """Bool per label (index 0 = background): True where the segment is not a red cell."""
    typical = np.pi * (d / 2.0) ** 2
    fg = labels > 0
    lab = labels[fg]
    safe = np.maximum(area, 1).astype(np.float64)
    mean_od = np.bincount(lab, weights=od[fg].astype(np.float64), minlength=n + 1) / safe
    real = area >= 0.5 * typical
    real[0] = False
    ref = float(np.median(mean_od[real])) if real.any() else float(np.median(mean_od[1:])) if n else 0.0
    bad = np.zeros(n + 1, bool)
    if ref > 0:
        bad |= mean_od < pale_od_frac * ref
    over = overlay_pixels(rgb)[fg]
    bad |= np.bincount(lab, weights=over.astype(np.float64), minlength=n + 1) >= 0.25 * safe
    bad |= on_edge & ((area < min_edge_area_frac * typical) | (thickness < 0.1 * d))
    if nucleus is not None:
        nuc = np.bincount(lab, weights=(nucleus[fg] > 0).astype(np.float64), minlength=n + 1)
        bad |= on_edge & (nuc >= 0.35 * safe)
    if boxes is not None:  # crowded fields: small concave pieces are the glass and rims between cells
        from malaria_desktop.core.segmentation.clumps import solidity

        for i in np.flatnonzero(~bad & ~on_edge & (area < 0.6 * typical)).tolist():
            x0, y0, x1, y1 = (int(v) for v in boxes[i])
            bad[i] = i > 0 and solidity(labels[y0 : y1 + 1, x0 : x1 + 1] == i) < 0.8
    bad[0] = False
    return bad


def clump_labels(labels: np.ndarray, ids: np.ndarray, area: np.ndarray, boxes: np.ndarray, d: float, *,
                 clump_area_frac: float = 2.2, lumpy_area_frac: float = 1.6, min_solidity: float = 0.8) -> np.ndarray:
    """Bool per label: segments that still hold several cells (much bigger than one cell, or bigger and
    not convex). They are kept, shown, and marked ``clump`` so they never count as one red cell."""
    from malaria_desktop.core.segmentation.clumps import solidity

    typical = np.pi * (d / 2.0) ** 2
    out = np.zeros(area.size, bool)
    for i in ids.tolist():
        if area[i] >= clump_area_frac * typical:
            out[i] = True
        elif area[i] >= lumpy_area_frac * typical:
            x0, y0, x1, y1 = (int(v) for v in boxes[i])
            out[i] = solidity(labels[y0 : y1 + 1, x0 : x1 + 1] == i) < min_solidity
    return out
