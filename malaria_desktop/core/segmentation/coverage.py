"""Blood that no outlined cell covers: where cells may have been missed, and how much.

Why: an infected cell that segmentation never outlines can never be reviewed back, so the technician
must at least see where that may have happened. Stained pixels (the foreground) that no region shown
on the image covers, grouped into blobs of at least half a typical cell (smaller bits are platelets,
stain specks and rims), are "cells may be missed here": their share of all stained pixels goes to the
image's warnings and to ``images.csv``, and their outlines (original pixels) to the image view.
"""

from __future__ import annotations

import cv2
import numpy as np

WARN_SHARE = 0.05  # warn when this share of the blood or more lies outside every outlined region
MIN_BLOB_FRAC = 0.5  # uncovered blobs smaller than this x a typical cell are not missed cells


def uncovered(mask: np.ndarray, labels: np.ndarray, kept: np.ndarray, d: float,
              scale: tuple[float, float]) -> tuple[float, tuple[np.ndarray, ...]]:
    """(share of the foreground in big uncovered blobs, their contours in original pixels).

    mask: uint8 foreground at work scale; labels: int32 regions; kept: ids of the regions shown;
    d: typical cell diameter at work scale; scale: (fx, fy) work -> original pixels.
    """
    total = int(np.count_nonzero(mask))
    if total == 0:
        return 0.0, ()
    shown = np.zeros(int(labels.max()) + 1, bool)
    shown[kept[kept < shown.size]] = True
    free = ((mask > 0) & ~shown[labels]).astype(np.uint8)
    r = max(1, int(round(0.1 * d)))  # rims and slivers between regions are not cells
    free = cv2.morphologyEx(free, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=8)
    big = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_BLOB_FRAC * np.pi * (d / 2.0) ** 2) + 1
    if big.size == 0:
        return 0.0, ()
    sel = np.isin(lab, big).astype(np.uint8)
    contours, _ = cv2.findContours(sel, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    f = np.array(scale, np.float64)
    out = tuple(np.rint(c.reshape(-1, 2) * f).astype(np.int32) for c in contours if len(c) >= 3)
    return float(stats[big, cv2.CC_STAT_AREA].sum() / total), out


def warning(share: float) -> str | None:
    """The per-image warning text, or None under ``WARN_SHARE``."""
    if share < WARN_SHARE:
        return None
    return (f"cells may be missed here: {100 * share:.0f} % of the stained area is in no outlined cell "
            "(outlined on the image); check it before trusting the count")
