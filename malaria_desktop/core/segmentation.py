"""Red-blood-cell segmentation of thin-smear fields: numpy RGB in, SegmentationResult out.

Why this shape: field images come from many microscopes (640x480 webcams to 5312x2988 phones) with RBC
diameters from ~40 to ~250 px, stain colours that vary per lab and uneven illumination. So we
1. estimate the RBC diameter per image on a small copy (median of per-blob distance-transform maxima,
   which is robust to clumps because touching discs keep the single-disc radius),
2. rescale so cells are ~32 px across and do all the work there (fast, and the same parameters fit
   every image),
3. flatten illumination (background = smoothed max filter) and turn the field into optical density
   summed over channels (stain agnostic: any absorbing stain is "foreground"), Otsu threshold, fill pale
   centres,
4. split touching cells with distance transform + marker watershed, merging splits whose neck is not
   narrow (so elongated cells are not cut),
5. drop platelets/debris (too small), white blood cells (big dark nucleus) and unsplittable clumps,
6. map contours back to original pixels and rasterise each mask at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .results import Cell, SegmentationResult

_LN10 = np.log(10.0)


@dataclass(frozen=True)
class SegmentationOptions:
    """Overridable parameters; areas are fractions of the typical RBC area of the image."""

    cell_diameter_px: float | None = None  # typical RBC diameter in original pixels; None = estimate
    work_diameter_px: float = 32.0  # cells are rescaled to about this size for the heavy work
    min_work_diameter_px: float = 20.0  # never go coarser than this, even for huge fields
    max_work_pixels: int = 4_000_000  # cap on the working image size (speed on 5312x2988)
    threshold_scale: float = 1.0  # >1 stricter, <1 looser foreground threshold
    min_area_frac: float = 0.25  # smaller objects are platelets or debris
    max_area_frac: float = 3.5  # bigger objects are WBCs or clumps that could not be split
    open_frac: float = 0.12  # opening radius (x diameter) that removes thin structures
    fill_holes_frac: float = 0.6  # holes smaller than this are pale centres, filled ...
    fill_holes_solidity: float = 0.0  # ... when convex (gaps enclosed by a ring of cells are concave)
    split_neck_ratio: float = 1.1  # merge two splits when the neck is wider than this x the smaller peak
    drop_wbc: bool = True
    nucleus_od_factor: float = 2.2  # pixels this many times the median cell OD look like nuclei
    wbc_nucleus_frac: float = 0.3  # a dark compact blob this big (x typical RBC area) is a WBC nucleus
    blur_threshold: float = 0.0025  # normalised variance-of-Laplacian below this means "blurred"
    few_cells: int = 10  # fewer cells than this triggers a warning


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)


def _shrink(img: np.ndarray) -> tuple[np.ndarray, int]:
    """A 4x smaller copy for background estimation (illumination varies slowly)."""
    h, w = img.shape[:2]
    f = 4 if min(h, w) >= 64 else 1
    if f == 1:
        return img, 1
    return cv2.resize(img, (0, 0), fx=1.0 / f, fy=1.0 / f, interpolation=cv2.INTER_AREA), f  # fast integer path


def _background_max(small: np.ndarray, kernel_px: float) -> np.ndarray:
    """First guess of the light field: max filter (cells are darker than glass), box-smoothed."""
    k = max(3, int(kernel_px) | 1)
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.blur(bg, (k, k)).astype(np.float32)


def _fit_light_field(small: np.ndarray, glass: np.ndarray) -> np.ndarray | None:
    """Least-squares quadratic surface per channel through the glass pixels (vignetting + gradient).

    Global and smooth on purpose: a dark corner mistaken for cells cannot pull the fit down, so the
    next pass sees that corner as glass again.
    """
    h, w = glass.shape
    ys, xs = np.nonzero(glass)
    if ys.size < 50:
        return None
    step = max(1, ys.size // 4000)
    ys, xs = ys[::step], xs[::step]
    u, v = xs / max(w - 1, 1) - 0.5, ys / max(h - 1, 1) - 0.5
    a = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    ata = a.T @ a + 1e-6 * np.eye(6)
    try:
        coef = np.linalg.solve(ata, a.T @ small[ys, xs].astype(np.float64))
    except np.linalg.LinAlgError:
        return None
    gu, gv = np.meshgrid(np.arange(w) / max(w - 1, 1) - 0.5, np.arange(h) / max(h - 1, 1) - 0.5)
    grid = np.stack([np.ones_like(gu), gu, gv, gu * gu, gu * gv, gv * gv], axis=-1)
    return np.clip(grid @ coef, 1.0, 255.0).astype(np.float32)


def _background_masked(small: np.ndarray, fg_small: np.ndarray, sigma: float, fallback: np.ndarray) -> np.ndarray:
    """Light field from background pixels only (normalised convolution), so gradients and hot spots
    are followed at the scale of a cell or two; falls back to the first guess where glass is scarce."""
    wgt = (fg_small == 0).astype(np.float32)
    num = cv2.GaussianBlur(small.astype(np.float32) * wgt[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(wgt, (0, 0), sigma)[..., None]
    eps = np.float32(0.03)
    return (num + eps * fallback) / (den + eps)


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
    zero_i = int(np.clip((0.0 - lo) / (hi - lo) * 256, 0, 255))
    mode_i = int(np.argmax(hist[: max(zero_i + 64, 128)]))  # the glass peak sits near OD 0
    mode = float(edges[mode_i] + edges[mode_i + 1]) / 2.0
    below = sample[sample < mode]
    sigma = float(np.sqrt(np.mean((below - mode) ** 2))) if below.size > 100 else (hi - lo) / 50.0
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


def _fill_holes(mask: np.ndarray, max_area: float, min_solidity: float = 0.8) -> np.ndarray:
    """Fill the pale centres of RBCs: enclosed holes that are small and convex.

    Gaps enclosed by a ring of touching cells are concave (solidity ~0.6), so they stay open and the
    distance transform can still see the cells that form the ring.
    """
    contours, hier = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return mask
    fill = []
    for c, hrow in zip(contours, hier[0]):
        if hrow[3] < 0:  # outer boundary, not a hole
            continue
        area = cv2.contourArea(c)
        if area >= max_area:
            continue
        if area < 0.08 * max_area or area >= min_solidity * cv2.contourArea(cv2.convexHull(c)):
            fill.append(c)
    if not fill:
        return mask
    out = mask.copy()
    cv2.drawContours(out, fill, -1, 1, thickness=cv2.FILLED)
    return out


def _foreground(rgb: np.ndarray, diameter: float | None, opts: SegmentationOptions):
    """OD image, binary cell mask and OD threshold at the scale of ``rgb``."""
    h, w = rgb.shape[:2]
    scale_px = diameter if diameter else min(h, w) / 12.0
    small, f = _shrink(rgb)
    log_img = _log_sum(rgb)
    log_small = _log_sum(small)
    # pass 1 on the small copy: rough cells, only to know which pixels are glass
    bg = _background_max(small, 2.2 * scale_px / f)
    od0 = _od(log_small, bg)
    t0 = _threshold(od0, opts.threshold_scale)
    for _ in range(2):  # smooth light field fitted to glass pixels: vignetted corners, gradients
        fg_small = cv2.dilate((od0 > t0).astype(np.uint8), np.ones((3, 3), np.uint8))
        fitted = _fit_light_field(small, fg_small == 0)
        if fitted is None:
            break
        bg = fitted
        od0 = _od(log_small, bg)
        t0 = _threshold(od0, opts.threshold_scale)
    fg_small = cv2.dilate((od0 > t0).astype(np.uint8), np.ones((3, 3), np.uint8))
    bg = _background_masked(small, fg_small, max(1.0, 1.2 * scale_px / f), bg)  # local detail
    od = _od(log_img, bg)
    # threshold a lightly smoothed OD: per-pixel (JPEG) noise is about as strong as a pale cell
    ods = cv2.GaussianBlur(od, (0, 0), max(1.0, scale_px / 32.0))
    tmap, t = _local_threshold(ods, opts.threshold_scale, 2.0 * scale_px)
    mask = (ods > tmap).astype(np.uint8)
    k3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k3)
    typical = np.pi * (diameter / 2.0) ** 2 if diameter else h * w / 200.0
    mask = _fill_holes(mask, opts.fill_holes_frac * typical, opts.fill_holes_solidity)
    if diameter:  # remove thin things (scratches, hairs, fibrin, cell-to-cell bridges)
        r = max(1, int(round(opts.open_frac * diameter)))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    else:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k3)
    return od, mask, t


def _per_label_max(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    sel = labels > 0
    np.maximum.at(out, labels[sel], values[sel])
    return out


def estimate_cell_diameter(image: np.ndarray, opts: SegmentationOptions | None = None) -> float:
    """Typical RBC diameter in original pixels: median over blobs of 2x their distance-transform max."""
    opts = opts or SegmentationOptions()
    h, w = image.shape[:2]
    long_side = 480.0
    for _ in range(3):
        s = min(1.0, long_side / max(h, w))
        small = _resize(image, (max(int(w * s), 1), max(int(h * s), 1))) if s < 1 else image
        _, mask, _ = _foreground(small, None, opts)
        dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
        n, lab = cv2.connectedComponents(mask, connectivity=8)
        radii = _per_label_max(lab, dist, n)[1:]
        areas = np.bincount(lab.ravel(), minlength=n)[1:].astype(np.float64)
        ok = radii >= 1.5
        radii, areas = radii[ok], areas[ok]
        if radii.size == 0:
            return 0.0
        # area-weighted median: the size most of the stained area belongs to (many platelets weigh little;
        # clumps of touching cells keep the single-cell radius)
        order = np.argsort(radii)
        cum = np.cumsum(areas[order])
        r = float(radii[order][np.searchsorted(cum, 0.5 * cum[-1])])
        d = 2.0 * r + 1.0  # the distance transform reaches r - 0.5 at the centre pixel
        if d >= 12 or s >= 1.0:
            return d / s
        long_side *= min(4.0, 24.0 / d)  # cells too small to measure here: look closer
    return d / s


def _nuclei(od: np.ndarray, mask: np.ndarray, t: float, d: float, opts: SegmentationOptions):
    """Dark, compact blobs (much darker than a typical RBC); the big ones are white-cell nuclei.

    The opening drops thin dark things (hairs, scratches, cell edges); ring-stage parasites and
    platelets are far smaller than a WBC nucleus, so only blobs of ``wbc_nucleus_frac`` of a typical
    RBC area (or more) are returned as WBCs, slightly grown to take their rim along.
    """
    cell_od = float(np.median(od[::2, ::2][mask[::2, ::2] > 0])) if mask[::2, ::2].any() else t
    dark = (od > max(opts.nucleus_od_factor * cell_od, 2.0 * t)).astype(np.uint8)
    r = max(1, int(round(0.14 * d)))
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= opts.wbc_nucleus_frac * np.pi * (d / 2.0) ** 2
    big[0] = False
    wbc = big[lab].astype(np.uint8)
    if wbc.any():
        g = max(1, int(round(0.1 * d)))
        wbc = cv2.dilate(wbc, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1)))
    return dark, wbc


def _variance_of_laplacian(gray: np.ndarray) -> float:
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=3)
    return float(lap.var())


def _split(mask: np.ndarray, d: float, opts: SegmentationOptions,
           wbc: np.ndarray | None = None) -> tuple[np.ndarray, int, np.ndarray]:
    """Seeds at distance-transform peaks, then a seeded flood; returns int32 labels (0 = background),
    the label count and the labels that grew from WBC nuclei (``wbc`` blobs are seeds of their own, so
    their cytoplasm is claimed by them and not glued to a neighbouring RBC).

    The mask is mirrored past the image border first, so a cell cut by the border has its peak where a
    whole cell would, and two cut neighbours still split at their neck.
    """
    p = max(2, int(1.1 * d))
    pm = cv2.copyMakeBorder(mask, p - 1, p - 1, p - 1, p - 1, cv2.BORDER_REFLECT)
    pm = cv2.copyMakeBorder(pm, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)  # OpenCV's DT sees past-the-edge as cell
    dist = cv2.distanceTransform(pm, cv2.DIST_L2, 5)
    sm = cv2.GaussianBlur(dist, (0, 0), 1.0)
    k = max(3, int(0.45 * d) | 1)
    peaks = (sm >= cv2.dilate(sm, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) - 1e-4)
    peaks &= sm > 0.18 * d
    wp = None
    if wbc is not None:
        wp = cv2.copyMakeBorder(wbc, p - 1, p - 1, p - 1, p - 1, cv2.BORDER_REFLECT)
        wp = cv2.copyMakeBorder(wp, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        peaks &= cv2.dilate(wp, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) == 0
    n, markers = cv2.connectedComponents(peaks.astype(np.uint8), connectivity=8)
    markers[markers > 0] += 1  # 0 = to flood, 1 = background, 2.. = seeds
    wbc_ids = np.zeros(0, np.int64)
    if wp is not None:
        nw, wl = cv2.connectedComponents(wp, connectivity=8)
        markers[wl > 0] = wl[wl > 0] + n  # labels n+1 .. n+nw-1 after the shift below
        wbc_ids = np.arange(n, n + nw - 1)
        n += nw - 1
    markers[pm == 0] = 1
    # cv2.watershed floods in order of neighbour colour *difference*, not of level: a flat relief inside
    # cells makes it a geodesic Voronoi split from the seeds (breadth-first, all seeds at one speed),
    # and the jump to a white background keeps the background marker from leaking into cells.
    relief = np.where(pm > 0, 0, 255).astype(np.uint8)
    markers = cv2.watershed(cv2.merge([relief, relief, relief]), markers)
    h, w = mask.shape
    markers = markers[p : p + h, p : p + w]
    sm = sm[p : p + h, p : p + w]
    labels = markers - 1
    labels[labels < 0] = 0
    labels[mask == 0] = 0
    # watershed lines (-1) sit on cell pixels too: give them back to the neighbouring cell
    lines = (markers == -1) & (mask > 0)
    if lines.any():
        grown = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8))
        labels[lines] = grown[lines].astype(np.int32)
    labels = _merge_wide_necks(labels, n, sm, opts.split_neck_ratio)
    return labels, n, wbc_ids


def _merge_wide_necks(labels: np.ndarray, n: int, dist: np.ndarray, ratio: float) -> np.ndarray:
    """Undo splits whose shared boundary is nearly as thick as the thinner part (elongated cells)."""
    if n <= 2:
        return labels
    peak = _per_label_max(labels, dist, n + 1)
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        sel = (a != b) & (a > 0) & (b > 0)
        if sel.any():
            la, lb = a[sel], b[sel]
            dv = np.minimum(dist[:, :-1] if a.shape[1] < labels.shape[1] else dist[:-1, :],
                            dist[:, 1:] if a.shape[1] < labels.shape[1] else dist[1:, :])[sel]
            pairs.append((np.minimum(la, lb), np.maximum(la, lb), dv))
    if not pairs:
        return labels
    lo = np.concatenate([p[0] for p in pairs]).astype(np.int64)
    hi = np.concatenate([p[1] for p in pairs]).astype(np.int64)
    dv = np.concatenate([p[2] for p in pairs])
    key = lo * (n + 2) + hi
    order = np.argsort(key, kind="stable")
    key, dv = key[order], dv[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    neck = np.maximum.reduceat(dv, starts)
    ukey = key[starts]
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k, nk in zip(ukey.tolist(), neck.tolist()):
        a, b = divmod(k, n + 2)
        if nk > ratio * min(peak[a], peak[b]):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n + 1)])
    if (roots == np.arange(n + 1)).all():
        return labels
    return roots[labels].astype(np.int32)


def _label_boxes(labels: np.ndarray, n: int):
    """Per-label area and bbox (x0, y0, x1, y1) without scipy."""
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    area = np.bincount(lab, minlength=n + 1)
    x0 = np.full(n + 1, 1 << 30)
    y0 = np.full(n + 1, 1 << 30)
    x1 = np.full(n + 1, -1)
    y1 = np.full(n + 1, -1)
    np.minimum.at(x0, lab, xs)
    np.minimum.at(y0, lab, ys)
    np.maximum.at(x1, lab, xs)
    np.maximum.at(y1, lab, ys)
    return area, x0, y0, x1, y1


def segment_cells(image: np.ndarray, options: SegmentationOptions | None = None) -> SegmentationResult:
    """Find the red blood cells of one RGB uint8 field (see module docstring for the method)."""
    opts = options or SegmentationOptions()
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"segment_cells needs an RGB uint8 image, got {image.shape} {image.dtype}")
    H, W = image.shape[:2]
    warnings: list[str] = []
    d_orig = opts.cell_diameter_px or estimate_cell_diameter(image, opts)
    if not d_orig or d_orig < 4:
        return SegmentationResult((), (H, W), 0.0, ("no cells found",))
    s = opts.work_diameter_px / d_orig
    s = min(s, max(np.sqrt(opts.max_work_pixels / (H * W)), opts.min_work_diameter_px / d_orig), 2.0)
    if abs(s - 1.0) < 0.05:
        s = 1.0
    ww, wh = max(int(round(W * s)), 1), max(int(round(H * s)), 1)
    work = image if s == 1.0 else _resize(image, (ww, wh))
    d = d_orig * s
    typical = np.pi * (d / 2.0) ** 2

    od, mask, t = _foreground(work, d, opts)
    nucleus = wbc_nuclei = None
    if opts.drop_wbc and mask.any():
        nucleus, wbc_nuclei = _nuclei(od, mask, t, d, opts)
        wbc_nuclei = wbc_nuclei & mask if wbc_nuclei.any() else None
    labels, n, wbc_ids = _split(mask, d, opts, wbc_nuclei)
    area, x0, y0, x1, y1 = _label_boxes(labels, n)

    keep = area >= opts.min_area_frac * typical
    keep &= area <= opts.max_area_frac * typical
    keep[0] = False
    keep[wbc_ids] = False
    if nucleus is not None and keep.any():  # backstop: mostly-nucleus segments left after the removal
        nuc_px = np.bincount(labels[(nucleus > 0) & (labels > 0)], minlength=n + 1)
        keep &= ~((nuc_px >= 0.5 * area) & (nuc_px >= 0.25 * typical))

    gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    cells = _to_cells(labels, np.flatnonzero(keep), x0, y0, x1, y1, (wh, ww), (H, W))

    bg_level = float(np.median(gray[mask == 0])) if (mask == 0).any() else 255.0
    sharp = _variance_of_laplacian(gray.astype(np.float32) / max(bg_level, 1.0))
    if sharp < opts.blur_threshold:
        warnings.append("blurred: the image looks out of focus")
    if len(cells) < opts.few_cells:
        warnings.append(f"very few cells found ({len(cells)})")
    return SegmentationResult(tuple(cells), (H, W), float(d_orig), tuple(warnings))


def _to_cells(labels, ids, x0, y0, x1, y1, work_shape, orig_shape) -> list[Cell]:
    """Contours at work scale -> original pixels; masks rasterised there at full resolution."""
    wh, ww = work_shape
    H, W = orig_shape
    fx = (W - 1) / max(ww - 1, 1)
    fy = (H - 1) / max(wh - 1, 1)
    same = (wh, ww) == (H, W)
    out = []
    for i in ids.tolist():
        bx0, by0, bx1, by1 = int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i])
        local = np.zeros((by1 - by0 + 3, bx1 - bx0 + 3), np.uint8)
        local[1:-1, 1:-1] = labels[by0 : by1 + 1, bx0 : bx1 + 1] == i
        contours, _ = cv2.findContours(local, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            continue
        c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
        c[:, 0] += bx0 - 1
        c[:, 1] += by0 - 1
        on_edge = bx0 == 0 or by0 == 0 or bx1 == ww - 1 or by1 == wh - 1
        if same:
            contour = c.astype(np.int32)
        else:
            contour = np.empty_like(c, dtype=np.int32)
            contour[:, 0] = np.clip(np.rint(c[:, 0] * fx), 0, W - 1)
            contour[:, 1] = np.clip(np.rint(c[:, 1] * fy), 0, H - 1)
        x, y, w, h = cv2.boundingRect(contour)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [contour - np.array([x, y], np.int32)], 1)
        mom = cv2.moments(m, binaryImage=True)
        if mom["m00"] <= 0:
            continue
        cx, cy = x + mom["m10"] / mom["m00"], y + mom["m01"] / mom["m00"]
        out.append((y, x, (x, y, w, h), (cx, cy), int(mom["m00"]), m.astype(bool), contour, on_edge))
    out.sort(key=lambda r: (r[0], r[1]))
    return [Cell(k + 1, r[2], (float(r[3][0]), float(r[3][1])), r[4], r[5], r[6], bool(r[7]))
            for k, r in enumerate(out)]
