"""Foreground of a smear field: light field, optical density, threshold and the binary cell mask.

Why a separate step: everything here is about *which pixels are stained* on a light background whose
brightness and colour vary (vignetting, hot spots, lab-specific stains); the segmenter only needs the
resulting OD image and mask. Work happens on a 4x smaller copy wherever the signal is smooth.
"""

from __future__ import annotations

import cv2
import numpy as np

from malaria_desktop.core.segmentation.options import SegmentationOptions

_LN10 = float(np.log(10.0))


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height); big reductions go through OpenCV's fast integer-factor INTER_AREA
    path first (a fractional INTER_AREA of a 16 MP field costs ~10x more)."""
    h, w = img.shape[:2]
    tw, th = size
    if (tw, th) == (w, h):
        return img
    if tw > w or th > h:
        return cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR)
    k = int(min(w / tw, h / th))
    if k >= 2:
        img = cv2.resize(img, (0, 0), fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_AREA)
        if img.shape[1] == tw and img.shape[0] == th:
            return img
    # what is left is under 2x: bilinear is as good here and much faster than a fractional INTER_AREA
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR)


def _shrink(img: np.ndarray) -> tuple[np.ndarray, int]:
    """A 4x smaller copy for background estimation (illumination varies slowly)."""
    h, w = img.shape[:2]
    f = 4 if min(h, w) >= 64 else 1
    if f == 1:
        return img, 1
    return cv2.resize(img, (0, 0), fx=1.0 / f, fy=1.0 / f, interpolation=cv2.INTER_AREA), f  # fast integer path


def _quad_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)


def _quad_fit(xs: np.ndarray, ys: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Least-squares quadratic surface coefficients (6, channels) through samples at pixel (xs, ys)."""
    h, w = shape
    a = _quad_terms(xs / max(w - 1, 1) - 0.5, ys / max(h - 1, 1) - 0.5)
    try:
        return np.linalg.solve(a.T @ a + 1e-6 * np.eye(6), a.T @ vals.astype(np.float64))
    except np.linalg.LinAlgError:
        return None


def _quad_eval(coef: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The fitted surface on the whole (h, w) grid, by broadcasting (no (h, w, 6) design matrix)."""
    h, w = shape
    u = (np.arange(w) / max(w - 1, 1) - 0.5)[None, :, None]
    v = (np.arange(h) / max(h - 1, 1) - 0.5)[:, None, None]
    c = coef[:, None, None, :]
    surf = c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v
    return np.clip(surf, 1.0, 255.0).astype(np.float32)


GLASS_OD = 0.05  # crowded fields: glass is within this summed OD of the local-maximum light field
FIT_SLACK = 0.1  # the fitted light field stays within this fraction of the local-maximum guess
GLASS_PEAK = 0.05  # a histogram peak this tall (x the tallest) can be the glass (crowded fields: little glass)
REJECT = 0.08  # a max-pool window > 8 % darker than the fitted surface holds no glass (cells only)


def _background_tiles(small: np.ndarray, kernel_px: float) -> np.ndarray:
    """First guess of the light field: local maxima (glass is the brightest thing nearby) on a grid,
    with a quadratic surface fitted robustly through them: windows that hold no glass at all (only
    cells) come out darker than the surface and are dropped, a dark vignetted edge is kept."""
    k = max(3, int(kernel_px) | 1)
    mx = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    h, w = small.shape[:2]
    step = max(1, k // 2)
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    ys, xs = ys.ravel(), xs.ravel()
    vals = mx[ys, xs].astype(np.float64)
    terms = _quad_terms(xs / max(w - 1, 1) - 0.5, ys / max(h - 1, 1) - 0.5)
    keep = np.ones(ys.size, bool)
    coef = None
    for _ in range(4):
        if keep.sum() < 8:
            break
        new = _quad_fit(xs[keep], ys[keep], vals[keep], (h, w))
        if new is None:
            break
        coef = new
        fit = (terms @ coef).mean(axis=1)
        keep = vals.mean(axis=1) - fit > -REJECT * fit
    if coef is None:
        return cv2.blur(mx, (k, k)).astype(np.float32)
    return _quad_eval(coef, (h, w))


def _fit_light_field(small: np.ndarray, glass: np.ndarray) -> np.ndarray | None:
    """Quadratic surface per channel through the glass pixels (vignetting + gradient).

    Global and smooth on purpose: a dark corner mistaken for cells cannot pull the fit down, so the
    next pass sees that corner as glass again.
    """
    ys, xs = np.nonzero(glass)
    if ys.size < 50:
        return None
    step = max(1, ys.size // 4000)
    ys, xs = ys[::step], xs[::step]
    coef = _quad_fit(xs, ys, small[ys, xs], glass.shape)
    return None if coef is None else _quad_eval(coef, glass.shape)


def _background_masked(small: np.ndarray, fg_small: np.ndarray, sigma: float, smooth: np.ndarray) -> np.ndarray:
    """Local correction of the smooth light field from glass pixels only (normalised convolution of
    pixel / smooth field), so hot spots are followed at the scale of a cell or two. Smoothing the
    ratio, not the light itself, keeps steep fall-offs at the image edge unbiased; where glass is
    scarce the correction fades to 1."""
    wgt = (fg_small == 0).astype(np.float32)
    ratio = small.astype(np.float32) / smooth
    num = cv2.GaussianBlur(ratio * wgt[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(wgt, (0, 0), sigma)[..., None]
    eps = np.float32(0.03)
    return smooth * ((num + eps) / (den + eps))


_LOG_LUT = (np.log10(np.arange(256, dtype=np.float64) + 1.0)).astype(np.float32)
_ONES = np.ones((1, 3), np.float32)


def _log_sum(rgb: np.ndarray) -> np.ndarray:
    """Sum over channels of log10(pixel + 1), via a lookup table (fast at full resolution)."""
    return cv2.transform(cv2.LUT(rgb, _LOG_LUT), _ONES)


def _od(log_img: np.ndarray, bg_small: np.ndarray) -> np.ndarray:
    """Optical density summed over channels, log10(background / pixel): ~0 on glass (noise either side),
    grows with any stain whatever its colour. The background is given small and upsized as one channel."""
    log_bg = cv2.transform(cv2.log(bg_small + 1.0), _ONES * np.float32(1.0 / _LN10))
    if log_bg.shape != log_img.shape:
        log_bg = _upsize(log_bg, log_img.shape)
    return cv2.subtract(log_bg, log_img)


def _upsize(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _glass_peak(hist: np.ndarray, zero_i: int) -> int:
    """Histogram bin of the glass peak: the lowest-OD clear peak (>= 15 % of the tallest) near OD 0.

    Why not the tallest peak: on a crowded field (70-90 % covered) the cells, not the glass, are the
    biggest class, and taking their peak for glass put the threshold above every red cell.
    """
    top = hist[: max(zero_i + 64, 128)]
    big = float(top.max())
    if big <= 0:
        return 0
    inner = top[1:-1]
    peaks = np.flatnonzero((inner >= top[:-2]) & (inner >= top[2:]) & (inner >= GLASS_PEAK * big)) + 1
    if top[0] >= GLASS_PEAK * big and top[0] >= top[1]:
        peaks = np.r_[0, peaks]
    return int(peaks[0]) if peaks.size else int(np.argmax(top))


def _threshold_stats(od: np.ndarray, scale: float, frac: float = 0.5) -> tuple[float, float, float]:
    """Background mode + a fraction of the way up to the typical stained-pixel level.

    Otsu was too high on pale, ring-like cells; this rule only needs the background peak (always the
    biggest, darkest-OD class on a thin smear) and the median of clearly stained pixels.
    """
    step = 2 if od.size < 400_000 else 3
    sample = od[::step, ::step].ravel()
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if hi - lo <= 1e-3:
        return float("inf"), float("inf"), 0.0
    hist, edges = np.histogram(sample, bins=256, range=(lo, hi))
    hist = np.convolve(hist, np.ones(5) / 5.0, mode="same")
    mode_i = _glass_peak(hist, int(np.clip((0.0 - lo) / (hi - lo) * 256, 0, 255)))
    mode = float(edges[mode_i] + edges[mode_i + 1]) / 2.0
    below = sample[sample < mode]
    # glass noise from the dark side of the glass peak; a median, not an RMS, so a long tail of pixels
    # brighter than the fitted light field (a crowded field with little glass) cannot inflate it
    sigma = 1.4826 * float(np.median(mode - below)) if below.size > 100 else (hi - lo) / 50.0
    noise_t = mode + 5.0 * sigma
    stained = sample[sample > noise_t]
    if stained.size < 0.005 * sample.size:
        return max(noise_t, 0.05), max(noise_t, 0.05), mode
    level = float(np.median(stained))
    return max(mode + frac * scale * (level - mode), noise_t, 0.02), max(noise_t, 0.02), mode


def _threshold(od: np.ndarray, scale: float) -> float:
    return _threshold_stats(od, scale)[0]


def _local_threshold(ods: np.ndarray, scale: float, sigma_px: float) -> tuple[np.ndarray, float]:
    """Threshold map: half-way from glass to the *local* stained level (sigma ~2 cells), so a patch of
    pale cells next to dark ones keeps its cells; never below the global noise floor."""
    t_glob, floor, mode = _threshold_stats(ods, scale)
    if not np.isfinite(t_glob):
        return np.full(ods.shape, np.inf, np.float32), t_glob
    small, f = _shrink(ods)
    stained = (small > floor).astype(np.float32)
    vals = np.minimum(small, np.float32(3.0 * t_glob)) * stained
    s = max(1.0, sigma_px / f)
    level = (cv2.GaussianBlur(vals, (0, 0), s) + 0.05 * t_glob) / (cv2.GaussianBlur(stained, (0, 0), s) + 0.05)
    tmap = np.maximum(mode + 0.5 * scale * (level - mode), floor).astype(np.float32)
    return _upsize(tmap, ods.shape), t_glob


def _fill_holes(mask: np.ndarray, max_area: float, min_solidity: float = 0.8, always_frac: float = 0.08,
                min_area: float = 0.0) -> np.ndarray:
    """Fill the pale centres of RBCs: enclosed holes that are small and convex.

    Gaps enclosed by a ring of touching cells are concave (solidity ~0.6), so they stay open and the
    distance transform can still see the cells that form the ring.
    """
    contours, hier = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return mask
    fill = []
    for c, hrow in zip(contours, hier[0], strict=True):
        if hrow[3] < 0:  # outer boundary, not a hole
            continue
        area = cv2.contourArea(c)
        if area >= max_area:
            continue
        convex = area >= min_area and area >= min_solidity * cv2.contourArea(cv2.convexHull(c))
        if area < always_frac * max_area or convex:
            fill.append(c)
    if not fill:
        return mask
    out = mask.copy()
    cv2.drawContours(out, fill, -1, 1, thickness=cv2.FILLED)
    return out


def foreground(rgb: np.ndarray, diameter: float | None, opts: "SegmentationOptions", smallest: float = 10.0):
    """OD image, binary cell mask and OD threshold at the scale of ``rgb``.

    ``diameter`` None means "size unknown" (the estimation pass): then only convex holes are filled
    (pale centres of any size, not the gaps between packed cells, which would glue small cells into
    big blobs) and ``smallest``, the smallest cell diameter expected here, sets the smoothing.
    """
    h, w = rgb.shape[:2]
    scale_px = diameter if diameter else min(h, w) / 12.0
    blur_px = diameter if diameter else smallest
    small, f = _shrink(rgb)
    log_img = _log_sum(rgb)
    log_small = _log_sum(small)
    # pass 1 on the small copy: rough cells, only to know which pixels are glass
    bg = tiles = _background_tiles(small, 1.5 * scale_px / f)
    od0 = _od(log_small, bg)
    t0 = _threshold(od0, opts.threshold_scale)
    # crowded fields: "below the threshold" holds pale cells too, which pull the fit down; glass is also
    # within a few per cent of the local maximum
    not_glass = (od0 > GLASS_OD) if opts.gap_od_frac > 0 else np.zeros(od0.shape, bool)
    for _ in range(2):  # smooth light field fitted to glass pixels: vignetted corners, gradients
        fg_small = cv2.dilate(((od0 > t0) | not_glass).astype(np.uint8), np.ones((3, 3), np.uint8))
        fitted = _fit_light_field(small, fg_small == 0)
        if fitted is None:
            break
        # a quadratic through glass that sits in one part of a crowded field can swing far off elsewhere;
        # the local-maximum guess is never more than a few per cent off, so the fit stays near it
        bg = np.clip(fitted, (1.0 - FIT_SLACK) * tiles, (1.0 + FIT_SLACK) * tiles)
        od0 = _od(log_small, bg)
        t0 = _threshold(od0, opts.threshold_scale)
    fg_small = cv2.dilate((od0 > t0).astype(np.uint8), np.ones((3, 3), np.uint8))
    bg = _background_masked(small, fg_small, max(1.0, 1.2 * scale_px / f), bg)  # local detail
    od = _od(log_img, bg)
    # threshold a lightly smoothed OD: per-pixel (JPEG) noise is about as strong as a pale cell
    ods = cv2.GaussianBlur(od, (0, 0), max(1.0, blur_px / 32.0))
    tmap, t = _local_threshold(ods, opts.threshold_scale, 2.0 * scale_px)
    mask = (ods > tmap).astype(np.uint8)
    k3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k3)  # type: ignore[assignment]
    if opts.gap_od_frac > 0:
        # glass between packed cells: the smoothing above fills those small bright triangles, so look
        # again at a sharper copy and cut out what is clearly glass (round pale centres are filled below)
        fine = cv2.GaussianBlur(od, (0, 0), 0.7)
        mask[fine < np.float32(opts.gap_od_frac) * tmap] = 0
    if diameter:
        typical = np.pi * (diameter / 2.0) ** 2
        # crowded fields: small holes stay open whatever their shape (a glass gap of a few pixels looks
        # convex at pixel level); pale centres are bigger, and their cells get pale-centre seeds anyway
        mask = _fill_holes(mask, opts.fill_holes_frac * typical, opts.fill_holes_solidity, opts.fill_holes_always,
                           opts.fill_holes_min * typical)
    else:
        tiny = 0.03 if opts.gap_od_frac > 0 else 0.3  # crowded-field pass: keep the small gaps open
        mask = _fill_holes(mask, h * w / 300.0, 0.85, tiny * np.pi * (smallest / 2.0) ** 2 / (h * w / 300.0))
    if diameter:  # remove thin things (scratches, hairs, fibrin, cell-to-cell bridges)
        r = max(1, int(round(opts.open_frac * diameter)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disc)  # type: ignore[assignment]
    else:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k3)  # type: ignore[assignment]
    return od, mask, t
