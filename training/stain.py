"""Colour statistics of labs and re-rendering of cells in another lab's colours (NumPy + OpenCV, no TensorFlow).

Why: every clinic is "another lab"; its stain, lamp and camera move cell colours far from NIH's salmon
pink. To measure sensitivity in foreign stains we need *parasitized* cells in those stains, and no other
lab's data here has parasites. So NIH cells (both classes) are re-rendered with Reinhard's colour transfer
(Reinhard et al. 2001: match per-channel mean and standard deviation in CIE L*a*b*), using the per-cell
statistics of a foreign lab's red cells as targets. OpenCV does the colour-space conversions.

Only the cell's pixels (not pure black, the crop convention) are measured and changed; the background
stays black, so a re-rendered crop is still a valid classifier input.
"""

from __future__ import annotations

import cv2
import numpy as np

from malaria_desktop.core.classification.domain_check import crop_colour_stats

STATS_COLUMNS = ("L_mean", "a_mean", "b_mean", "L_std", "a_std", "b_std")
MIN_STD = 1.0  # L*a*b* units (OpenCV 8-bit scale); guards flat cells against division blow-up


def _lab(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float32 L*a*b* image in OpenCV's 8-bit scale, bool cell mask) of one RGB uint8 crop."""
    mask = crop.max(axis=2) > 0
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    return lab, mask


def cell_colour_stats(crops: np.ndarray) -> np.ndarray:
    """Per-crop L*a*b* mean and std over the cell's pixels: ``(N, 6)`` float32 (see ``STATS_COLUMNS``).

    Crops with fewer than 4 cell pixels get NaN rows, so callers can drop them explicitly. The app's
    "unlike the training data" check (``core.classification.domain_check``) computes the same statistic; this is that
    function, so the card's reference and the app's measurement are one computation.
    """
    return crop_colour_stats(np.asarray(crops))


def transfer_colour(crops: np.ndarray, targets: np.ndarray, source_std: np.ndarray | None = None) -> np.ndarray:
    """Re-render each crop with the colour statistics of the matching ``targets`` row (Reinhard transfer).

    crops: ``(N, S, S, 3)`` RGB uint8 (pure black outside the cell). targets: ``(N, 6)`` rows from
    ``cell_colour_stats`` of the lab to imitate. Returns new uint8 crops; black stays black.
    source_std: ``(3,)`` or ``(N, 3)`` typical L*a*b* std of an *uninfected* cell of each crop's own lab.
    Without it every crop's own std is matched to the target's (classic Reinhard), which flattens a
    parasitized cell's dark chromatin to a healthy cell's contrast; with it the contrast is scaled by the
    lab-to-lab ratio instead, so a parasite stays as prominent relative to its cell as it was.
    """
    if len(crops) != len(targets):
        raise ValueError(f"{len(crops)} crops but {len(targets)} target rows")
    out = np.zeros_like(crops)
    if source_std is not None:
        source_std = np.broadcast_to(np.asarray(source_std, np.float32), (len(crops), 3))
    for i, (crop, target) in enumerate(zip(crops, targets, strict=False)):
        lab, mask = _lab(np.ascontiguousarray(crop))
        if mask.sum() < 4 or not np.all(np.isfinite(target)):
            out[i] = crop
            continue
        pix = lab[mask]
        mean = pix.mean(axis=0)
        std = np.maximum(pix.std(axis=0) if source_std is None else source_std[i], MIN_STD)
        scaled = (pix - mean) / std * np.maximum(target[3:], MIN_STD) + target[:3]
        lab[mask] = np.clip(scaled, 0, 255)
        rgb = cv2.cvtColor(np.round(lab).astype(np.uint8), cv2.COLOR_LAB2RGB)
        rgb[~mask] = 0
        # a cell pixel that rounds to pure black would read as background: keep it 1 level above
        dark = mask & (rgb.max(axis=2) == 0)
        rgb[dark] = 1
        out[i] = rgb
    return out


def sample_targets(stats: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows drawn (with replacement, seeded) from a lab's finite per-cell statistics."""
    finite = stats[np.all(np.isfinite(stats), axis=1)]
    if len(finite) == 0:
        raise ValueError("no finite colour statistics to sample from")
    rng = np.random.default_rng(seed)
    return finite[rng.integers(0, len(finite), n)]
