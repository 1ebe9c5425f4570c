"""Red-blood-cell segmentation of thin-smear fields: numpy RGB in, SegmentationResult out.

Why this shape: field images come from many microscopes (640x480 webcams to 5312x2988 phones) with RBC
diameters from ~40 to ~250 px, stain colours that vary per lab and uneven illumination. So we
1. estimate the RBC diameter per image on a small copy (``size_estimate.py``: a consensus of
   distance-transform peaks, clean isolated cells and per-blob maxima; a warning when they disagree),
2. rescale so cells are ~32 px across and do all the work there (fast, and one set of parameters fits
   every image),
3. find stained pixels (``foreground.py``: fitted light field, optical density summed over channels so
   any stain colour counts, local threshold, pale centres filled, thin things opened away),
4. seed every cell at a distance-transform peak (the mask is mirrored past the image border so cut
   cells keep their peak) and flood from the seeds (cv2.watershed on a flat relief = geodesic Voronoi);
   WBC nuclei seed regions of their own, so their cytoplasm is not glued to a neighbouring RBC,
5. drop platelets/debris (too small), white blood cells and blobs too big for any cell; drop non-cells
   (``non_cells.py``: glass gaps, burned-in labels, border slivers under 30 % of a cell, WBC pieces) and
   mark segments that still hold several cells ``clump`` (shown, never counted),
6. map contours back to original pixels and rasterise each mask at full resolution.

Crowded fields (> 55 % of the glass covered, ``size_estimate.py``) differ in three places: the glass gaps
between packed cells are cut out of the mask and small holes stay open, a hole is filled only when it
holds a pale centre, and those pale centres seed their cells (``clumps.py``); then the size is checked
against the thickness of the segments and, if they are thinner than cells of that size, corrected once or
twice. Fields that are not crowded keep the earlier method, which was measured best there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from malaria_desktop.core.results import Cell, SegmentationResult
from malaria_desktop.core.segmentation.clumps import merge_fragments, pale_centres_filled, pallor_evidence
from malaria_desktop.core.segmentation.coverage import uncovered
from malaria_desktop.core.segmentation.coverage import warning as missed_warning
from malaria_desktop.core.segmentation.foreground import foreground as _foreground
from malaria_desktop.core.segmentation.foreground import resize as _resize
from malaria_desktop.core.segmentation.non_cells import clump_labels, non_cell_labels, overlay_mask
from malaria_desktop.core.segmentation.options import SegmentationOptions
from malaria_desktop.core.segmentation.size_estimate import CROWDED, estimate_size

FIT_RIGHT = 1.03  # median 2 x DT max / diameter of segments when the size is right (measured, dense set)
FIT_LOW = 0.97  # below this the size was too big: segments are thinner than cells of that size


def _per_label_max(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    sel = labels > 0
    np.maximum.at(out, labels[sel], values[sel])
    return out


def estimate_cell_diameter(image: np.ndarray, opts: SegmentationOptions | None = None) -> float:
    """Typical RBC diameter in original pixels: consensus of estimators (see ``size_estimate.py``)."""
    return estimate_size(image, opts or SegmentationOptions()).diameter


def _nuclei(od: np.ndarray, mask: np.ndarray, t: float, d: float, opts: SegmentationOptions):
    """Dark, compact blobs (much darker than a typical RBC); the big ones are white-cell nuclei.

    The opening drops thin dark things (hairs, scratches, cell edges); ring-stage parasites and
    platelets are far smaller than a WBC nucleus, so only blobs of ``wbc_nucleus_frac`` of a typical
    RBC area (or more) are returned as WBCs, slightly grown to take their rim along.
    """
    cell_od = float(np.median(od[::2, ::2][mask[::2, ::2] > 0])) if mask[::2, ::2].any() else t
    dark = (od > max(opts.nucleus_od_factor * cell_od, 2.0 * t)).astype(np.uint8)
    r = max(1, int(round(0.14 * d)))
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))  # type: ignore[assignment]
    n, lab, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= opts.wbc_nucleus_frac * np.pi * (d / 2.0) ** 2
    big[0] = False
    wbc = big[lab].astype(np.uint8)
    if wbc.any():
        g = max(1, int(round(0.1 * d)))
        wbc = cv2.dilate(wbc, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1)))
    return dark, wbc


def _sharpness(gray: np.ndarray) -> float:
    """Mean squared Laplacian over mean squared gradient, at the work scale (cells ~32 px).

    A plain variance of the Laplacian grows with stain contrast and sensor noise, so pale but sharp
    fields looked blurred; the ratio goes like 1 / (edge width)^2 whatever the contrast, and a light
    pre-smoothing keeps pixel noise out of it. Sharp fields score ~4.5-7, clearly soft ones < 3.
    """
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=3)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    grad2 = float(np.mean(gx * gx + gy * gy)) / 64.0  # Sobel 3x3 is 8x the central difference
    return float(np.mean(lap * lap)) / grad2 if grad2 > 1e-9 else float("inf")


def _split(mask: np.ndarray, d: float, opts: SegmentationOptions,
           wbc: np.ndarray | None = None,
           pale: np.ndarray | None = None) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Seeds at distance-transform peaks, then a seeded flood; returns int32 labels (0 = background),
    the label count, the labels that grew from WBC nuclei (``wbc`` blobs are seeds of their own, so
    their cytoplasm is claimed by them and not glued to a neighbouring RBC) and the distance transform.
    Pale centres (``pale``, see ``clumps.pale_centres``) seed their cell in place of DT peaks.

    The mask is mirrored past the image border first, so a cell cut by the border has its peak where a
    whole cell would, and two cut neighbours still split at their neck.
    """
    p = max(2, int(1.1 * d))
    pm = cv2.copyMakeBorder(mask, p - 1, p - 1, p - 1, p - 1, cv2.BORDER_REFLECT)
    pm = cv2.copyMakeBorder(pm, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)  # OpenCV's DT sees past-the-edge as cell
    dist = cv2.distanceTransform(pm, cv2.DIST_L2, 5)
    sm = cv2.GaussianBlur(dist, (0, 0), 1.0)
    k = max(3, int(opts.peak_window_frac * d) | 1)
    peaks = sm >= cv2.dilate(sm, np.ones((k, k), np.uint8)) - 1e-4  # square window: separable, fast
    peaks &= sm > 0.18 * d
    if pale is not None and pale.any():
        pale = cv2.copyMakeBorder(pale, p, p, p, p, cv2.BORDER_REFLECT)
        if True:  # a pale centre is the seed of its cell; DT peaks only where no pale centre is near
            q = int(0.9 * d) | 1
            near = cv2.dilate(pale, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (q, q)))
            peaks = (peaks & (near == 0)) | (pale > 0)
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
    dist = dist[p : p + h, p : p + w]
    labels = markers - 1
    labels[labels < 0] = 0
    labels[mask == 0] = 0
    # watershed lines (-1) sit on cell pixels too: give them back to the neighbouring cell
    lines = (markers == -1) & (mask > 0)
    if lines.any():
        grown = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8))
        labels[lines] = grown[lines].astype(np.int32)
    if opts.split_neck_ratio < 1.0:
        labels = _merge_wide_necks(labels, n, sm, opts.split_neck_ratio)
    return labels, n, wbc_ids, dist


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

    for k, nk in zip(ukey.tolist(), neck.tolist(), strict=True):
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
    """Per-label area and bbox (x0, y0, x1, y1) without scipy: np.nonzero lists pixels in row order
    (and, on the transpose, in column order), and in a fancy assignment the last write wins, so writing
    forwards keeps the largest coordinate and writing backwards the smallest."""
    area = np.bincount(labels.ravel(), minlength=n + 1)
    out = []
    for img in (labels.T, labels):  # x from column order, y from row order
        major, _ = np.nonzero(img)
        lab = img[img > 0]
        lo = np.full(n + 1, 1 << 30)
        hi = np.full(n + 1, -1)
        hi[lab] = major
        lo[lab[::-1]] = major[::-1]
        out.append((lo, hi))
    (x0, x1), (y0, y1) = out
    return area, x0, y0, x1, y1


@dataclass
class _Work:
    """Everything the work-scale pass produced that the result needs."""

    labels: np.ndarray
    ids: np.ndarray  # kept labels
    clump: np.ndarray  # bool per label
    boxes: tuple[np.ndarray, ...]  # x0, y0, x1, y1 per label
    area: np.ndarray
    shape: tuple[int, int]  # (height, width) of the work image
    fit: float  # median 2 x distance-transform max / diameter over kept segments (~1 when the size is right)
    covered: float  # share of the foreground that kept segments cover

    @property
    def quality(self) -> float:
        """Lower is better: thickness off the right fit, plus foreground that no kept cell explains."""
        return abs(self.fit - FIT_RIGHT) + (1.0 - self.covered)
    gray: np.ndarray
    mask: np.ndarray  # the foreground (uint8): what is blood, to find where no kept cell covers it


def _work_scale(image: np.ndarray, d_orig: float, opts: SegmentationOptions) -> tuple[np.ndarray, float]:
    H, W = image.shape[:2]
    s = opts.work_diameter_px / d_orig
    s = min(s, max(np.sqrt(opts.max_work_pixels / (H * W)), opts.min_work_diameter_px / d_orig), 2.0)
    if abs(s - 1.0) < 0.05:
        s = 1.0
    ww, wh = max(int(round(W * s)), 1), max(int(round(H * s)), 1)
    return (image if s == 1.0 else _resize(image, (ww, wh))), s


def _segment_work(work: np.ndarray, d: float, opts: SegmentationOptions, crowded: bool | None) -> _Work:
    """Foreground, seeds, split, fragment merge, non-cell rejection and clump marking at work scale."""
    wh, ww = work.shape[:2]
    typical = np.pi * (d / 2.0) ** 2
    # on fields that are not crowded the earlier method stays (measured best there: Chula recall 0.983)
    sparse = replace(opts, gap_od_frac=0.0, pallor_weight=0.0, fill_holes_solidity=0.0, fill_holes_always=0.08,
                     fill_holes_min=0.0, merge_fragments=False)
    od, mask, t = _foreground(work, d, opts if crowded else sparse)
    if crowded is None and mask.mean() >= CROWDED and opts.gap_od_frac > 0:  # size given: judge cover here
        crowded = True
        od, mask, t = _foreground(work, d, opts)
    if not crowded:
        opts = sparse
    if opts.reject_non_cells:
        mask[overlay_mask(work, d) > 0] = 0  # scale bars, text: never part of a cell
    nucleus = wbc_nuclei = None
    if opts.drop_wbc and mask.any():
        nucleus, wbc_nuclei = _nuclei(od, mask, t, d, opts)
        wbc_nuclei = wbc_nuclei & mask if wbc_nuclei.any() else None
    pale = None
    if opts.pallor_weight > 0 and mask.any():
        mask, pale = pale_centres_filled(mask, pallor_evidence(od, mask, d), d, opts.pale_solidity, od)
    labels, n, wbc_ids, dist = _split(mask, d, opts, wbc_nuclei, pale)
    area, x0, y0, x1, y1 = _label_boxes(labels, n)
    if opts.merge_fragments:
        roots = merge_fragments(labels, area, np.stack([x0, y0, x1, y1], 1), d, protect=wbc_ids)
        if (roots != np.arange(roots.size)).any():
            labels = roots[labels].astype(np.int32)
            area, x0, y0, x1, y1 = _label_boxes(labels, n)
    keep = area >= opts.min_area_frac * typical
    if crowded:  # packed cells are whole-cell sized; smaller inner pieces are gaps and rims between them
        inner = (x0 > 0) & (y0 > 0) & (x1 < ww - 1) & (y1 < wh - 1)
        keep &= ~inner | (area >= opts.crowded_min_area_frac * typical)
    keep &= area <= opts.max_area_frac * typical
    keep[0] = False
    if not opts.keep_wbc_regions:
        keep[wbc_ids] = False
    if nucleus is not None and keep.any() and not opts.keep_wbc_regions:  # backstop: mostly-nucleus segments
        nuc_px = np.bincount(labels[(nucleus > 0) & (labels > 0)], minlength=n + 1)
        keep &= ~((nuc_px >= 0.5 * area) & (nuc_px >= 0.25 * typical))
    thick = _per_label_max(labels, dist, n + 1)
    if opts.reject_non_cells and keep.any():
        edge = (x0 == 0) | (y0 == 0) | (x1 == ww - 1) | (y1 == wh - 1)
        keep &= ~non_cell_labels(labels, n, area, od, work, None if opts.keep_wbc_regions else nucleus, edge, thick, d,
                                 min_edge_area_frac=opts.min_edge_area_frac,
                                 boxes=np.stack([x0, y0, x1, y1], 1) if crowded else None)
    ids = np.flatnonzero(keep)
    clump = np.zeros(n + 1, bool)
    if opts.mark_clumps:
        clump = clump_labels(labels, ids, area, np.stack([x0, y0, x1, y1], 1), d)
    fit = float(np.median(2.0 * (thick[ids] + 0.5) / d)) if crowded and ids.size else 1.0
    covered = float(area[ids].sum() / max(int(area[1:].sum()), 1))
    return _Work(labels, ids, clump, (x0, y0, x1, y1), area, (wh, ww), fit, covered,
                 cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), mask)


def segment_cells(image: np.ndarray, options: SegmentationOptions | None = None) -> SegmentationResult:
    """Find the red blood cells of one RGB uint8 field (see module docstring for the method)."""
    opts = options or SegmentationOptions()
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"segment_cells needs an RGB uint8 image, got {image.shape} {image.dtype}")
    H, W = image.shape[:2]
    warnings: list[str] = []
    if min(H, W) < 16:
        return SegmentationResult((), (H, W), 0.0, ("no cells found: the image is too small",))
    size = None if opts.cell_diameter_px else estimate_size(image, opts)
    d_orig = opts.cell_diameter_px or size.diameter  # type: ignore[union-attr]
    if not d_orig or d_orig < 4:
        return SegmentationResult((), (H, W), 0.0, ("no cells found",))
    crowded = size.crowded if size is not None else None
    best: tuple[float, float, _Work] | None = None
    for _ in range(3):
        work, s = _work_scale(image, d_orig, opts)
        res = _segment_work(work, d_orig * s, opts, crowded)
        if best is None or res.quality < best[2].quality:
            best = (d_orig, s, res)
        # the size check: on a crowded field, segments much thinner than the size says were cut from
        # clumps at too big a size; correct the size from their thickness, segment again, keep the best
        if size is None or res.fit >= FIT_LOW:
            break
        d_orig *= res.fit / FIT_RIGHT
    assert best is not None  # the loop runs at least once
    d_orig, s, res = best
    if size is not None and (not size.agree or res.fit < FIT_LOW):
        est = ", ".join(f"{k} {v:.0f}" for k, v in size.estimates.items())
        warnings.append(f"uncertain cell size: estimators disagree ({est} px, used {d_orig:.0f}); counts may be off")
    x0, y0, x1, y1 = res.boxes
    cells = _to_cells(res.labels, res.ids, x0, y0, x1, y1, res.shape, (H, W), res.clump)
    if _sharpness(res.gray) < opts.blur_threshold:
        warnings.append("blurred: the image looks out of focus")
    if len(cells) < opts.few_cells:
        warnings.append(f"very few cells found ({len(cells)})")
    wh, ww = res.shape
    share, missed = uncovered(res.mask, res.labels, res.ids, d_orig * s,
                              ((W - 1) / max(ww - 1, 1), (H - 1) / max(wh - 1, 1)))
    if (text := missed_warning(share)) is not None:
        warnings.append(text)
    return SegmentationResult(tuple(cells), (H, W), float(d_orig), tuple(warnings), share, missed)


def _to_cells(labels, ids, x0, y0, x1, y1, work_shape, orig_shape, clump) -> list[Cell]:
    """Contours at work scale -> original pixels; masks rasterised there at full resolution."""
    wh, ww = work_shape
    H, W = orig_shape
    fx = (W - 1) / max(ww - 1, 1)
    fy = (H - 1) / max(wh - 1, 1)
    scale = np.array([fx, fy])
    same = (wh, ww) == (H, W)
    out = []
    for i in ids.tolist():
        bx0, by0, bx1, by1 = int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i])
        local = np.zeros((by1 - by0 + 3, bx1 - bx0 + 3), np.uint8)
        local[1:-1, 1:-1] = labels[by0 : by1 + 1, bx0 : bx1 + 1] == i
        contours, _ = cv2.findContours(local, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            continue
        c = (max(contours, key=cv2.contourArea) if len(contours) > 1 else contours[0]).reshape(-1, 2)
        c = c + np.array([bx0 - 1, by0 - 1])
        on_edge = bx0 == 0 or by0 == 0 or bx1 == ww - 1 or by1 == wh - 1
        # work pixel 0 maps to original 0 and work ww-1 to W-1, so no clipping is needed
        contour = c.astype(np.int32) if same else np.rint(c * scale).astype(np.int32)
        x, y, w, h = cv2.boundingRect(contour)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [contour - np.array([x, y], np.int32)], 1)
        mom = cv2.moments(m, binaryImage=True)
        if mom["m00"] <= 0:
            continue
        cx, cy = x + mom["m10"] / mom["m00"], y + mom["m01"] / mom["m00"]
        out.append((y, x, (x, y, w, h), (cx, cy), int(mom["m00"]), m.view(bool), contour, on_edge, bool(clump[i])))
    out.sort(key=lambda r: (r[0], r[1]))
    return [Cell(k + 1, r[2], (float(r[3][0]), float(r[3][1])), r[4], r[5], r[6], bool(r[7]), r[8])
            for k, r in enumerate(out)]


def coverage_maps(result: SegmentationResult) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel count of detected cells covering it, and the id of (one of) them.

    A labelled point counts as found when exactly one cell covers it; tests and the Chula benchmark
    score recall the same way through this one function.
    """
    h, w = result.image_shape
    count = np.zeros((h, w), np.uint8)
    ids = np.zeros((h, w), np.int32)
    for c in result.cells:
        x, y, bw, bh = c.bbox
        count[y : y + bh, x : x + bw] += c.mask
        ids[y : y + bh, x : x + bw][c.mask] = c.cell_id
    return count, ids
