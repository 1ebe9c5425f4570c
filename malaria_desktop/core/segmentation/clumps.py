"""After the seeded split: glue fragments of one cell back together, and mark clumps that stay merged.

Why a separate step: seeds from distance-transform peaks and pale centres sometimes put two seeds in one
cell (an odd outline, a parasite in the pale centre) and, on crowded fields, miss one between two cells.
Both are judged here on the result, with the typical cell area known: a fragment is small and makes a
convex cell with its neighbour; a clump is much bigger than one cell and not one convex disc.
All image operations are OpenCV (contours, convex hulls): fast, and no extra dependency.
"""

from __future__ import annotations

import cv2
import numpy as np


def adjacency(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (a < b) of labels that touch (4-neighbourhood) and the length of their shared boundary."""
    los, his = [], []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        sel = (a != b) & (a > 0) & (b > 0)
        if sel.any():
            la, lb = a[sel].astype(np.int64), b[sel].astype(np.int64)
            los.append(np.minimum(la, lb))
            his.append(np.maximum(la, lb))
    if not los:
        e = np.zeros(0, np.int64)
        return e, e, e
    lo, hi = np.concatenate(los), np.concatenate(his)
    key = lo * (int(labels.max()) + 1) + hi
    uniq, counts = np.unique(key, return_counts=True)
    m = int(labels.max()) + 1
    return uniq // m, uniq % m, counts


def solidity(region: np.ndarray) -> float:
    """Area over convex-hull area of the biggest outer contour of a binary patch."""
    cs, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return 0.0
    c = max(cs, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(c))
    return float(cv2.contourArea(c) / hull) if hull > 0 else 0.0


def _bbox_union(boxes: np.ndarray, a: int, b: int) -> tuple[int, int, int, int]:
    return (min(boxes[a, 0], boxes[b, 0]), min(boxes[a, 1], boxes[b, 1]),
            max(boxes[a, 2], boxes[b, 2]), max(boxes[a, 3], boxes[b, 3]))


def merge_fragments(labels: np.ndarray, area: np.ndarray, boxes: np.ndarray, d: float, *,
                    small_frac: float = 0.6, max_frac: float = 1.35, min_solidity: float = 0.88,
                    protect: np.ndarray | None = None) -> np.ndarray:
    """Union-find relabelling that glues a small segment to the neighbour it shares most boundary with,
    when together they stay about one cell big (<= ``max_frac`` typical) and convex (>= ``min_solidity``).

    ``area`` and ``boxes`` (x0, y0, x1, y1 inclusive) are per label; ``protect`` labels (WBCs) never merge.
    Returns the root of every label (index = old label).
    """
    n = area.size
    parent = np.arange(n)
    typical = np.pi * (d / 2.0) ** 2
    lo, hi, length = adjacency(labels)
    if lo.size == 0:
        return parent
    area = area.astype(np.float64).copy()
    boxes = boxes.copy()
    order = np.argsort(-length)
    best: dict[int, tuple[int, int]] = {}
    for a, b, ln in zip(lo[order].tolist(), hi[order].tolist(), length[order].tolist(), strict=True):
        for s, o in ((a, b), (b, a)):
            if s not in best:
                best[s] = (o, ln)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    prot = set(protect.tolist()) if protect is not None else set()
    members: dict[int, list[int]] = {}  # root -> original labels glued into it
    lut = np.zeros(n, bool)
    for s in np.argsort(area).tolist():
        if s == 0 or area[s] >= small_frac * typical or s not in best or s in prot:
            continue
        o, ln = best[s]
        rs, ro = find(s), find(o)
        if rs == ro or ro in prot or ln < 0.25 * d or area[rs] + area[ro] > max_frac * typical:
            continue
        x0, y0, x1, y1 = _bbox_union(boxes, rs, ro)
        both = members.get(rs, [rs]) + members.get(ro, [ro])
        lut[both] = True
        region = lut[labels[y0 : y1 + 1, x0 : x1 + 1]]
        lut[both] = False
        if solidity(region) < min_solidity:
            continue
        parent[max(rs, ro)] = min(rs, ro)
        r = min(rs, ro)
        members[r] = both
        area[r] = area[rs] + area[ro]
        boxes[r] = _bbox_union(boxes, rs, ro)
    return np.array([find(i) for i in range(n)])


def pallor_evidence(od: np.ndarray, mask: np.ndarray, d: float) -> np.ndarray:
    """Centre evidence in [0, 1]: how much paler than a typical stained pixel the cell is here, at the
    scale of a pale centre (OpenCV Gaussian blur: fast, separable). Packed cells with no glass
    between them still show one pale centre each, so this splits them where the mask cannot."""
    sel = mask[::2, ::2] > 0
    if not sel.any():
        return np.zeros(mask.shape, np.float32)
    level = float(np.percentile(od[::2, ::2][sel], 75))
    if level <= 1e-6:
        return np.zeros(mask.shape, np.float32)
    blurred = cv2.GaussianBlur(od, (0, 0), max(1.0, 0.12 * d))
    return np.clip(1.0 - blurred / np.float32(level), 0.0, 1.0)


def pale_centres(pallor: np.ndarray, dist: np.ndarray, d: float, min_solidity: float = 0.8) -> np.ndarray:
    """Compact pale blobs well inside the foreground (one per cell with central pallor), as uint8."""
    pale = ((pallor > 0.35) & (dist > 0.22 * d)).astype(np.uint8)
    r = max(1, int(round(0.08 * d)))
    pale = cv2.morphologyEx(pale, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))  # type: ignore[assignment]
    n, lab, stats, _ = cv2.connectedComponentsWithStats(pale, connectivity=8)
    typical = np.pi * (d / 2.0) ** 2
    area = stats[:, cv2.CC_STAT_AREA]
    side = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    ok = (area >= 0.01 * typical) & (area <= 0.35 * typical) & (side <= 0.75 * d)
    ok[0] = False
    # round only: the glass triangle where three packed cells meet is pale too, but concave
    for i in np.flatnonzero(ok).tolist():
        x, y, w, h = (int(v) for v in stats[i, :4])
        cs, _ = cv2.findContours((lab[y : y + h, x : x + w] == i).astype(np.uint8), cv2.RETR_EXTERNAL,
                                 cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.contourArea(cv2.convexHull(max(cs, key=cv2.contourArea)))
        ok[i] = hull > 0 and area[i] >= min_solidity * hull
    return ok[lab].astype(np.uint8)


def pale_centres_filled(mask: np.ndarray, pallor: np.ndarray, d: float, min_solidity: float = 0.8,
                        od: np.ndarray | None = None, glass_frac: float = 0.1):
    """(mask with the holes that are pale centres filled, pale-centre seeds), both uint8.

    On crowded fields small holes are left open by the foreground step (a glass gap of a few pixels
    looks as convex as a pale centre at pixel level); here a hole is filled only when a pale-centre
    blob, found on the smooth pallor evidence with every hole filled, lies in it, and the hole is not
    glass (mean ``od`` under ``glass_frac`` of a typical stained pixel: a pale centre keeps some stain).
    """
    # the frame counts as cell here, so a pale centre cut by the border is a hole too
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    full = padded.copy()
    cs, hier = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    limit = 0.6 * np.pi * (d / 2.0) ** 2
    dented = np.zeros_like(padded)  # holes that are big and concave: gaps between cells, never a pale centre
    if hier is not None:
        holes = [c for c, h in zip(cs, hier[0], strict=True) if h[3] >= 0 and cv2.contourArea(c) < limit]
        if holes:
            cv2.drawContours(full, holes, -1, 1, thickness=cv2.FILLED)
        concave = [c for c in holes if cv2.contourArea(c) >= 0.04 * limit / 0.6
                   and cv2.contourArea(c) < 0.9 * cv2.contourArea(cv2.convexHull(c))]
        if concave:
            cv2.drawContours(dented, concave, -1, 1, thickness=cv2.FILLED)
    full, dented = full[1:-1, 1:-1], dented[1:-1, 1:-1]
    dist = cv2.distanceTransform(cv2.copyMakeBorder(full, 1, 1, 1, 1, cv2.BORDER_REPLICATE), cv2.DIST_L2, 5)[1:-1, 1:-1]
    pale = pale_centres(pallor, dist, d, min_solidity)
    gaps = (full > 0) & (mask == 0)
    if pale.any() and gaps.any():
        n, lab = cv2.connectedComponents(gaps.astype(np.uint8), connectivity=8)
        hit = np.zeros(n, bool)
        hit[np.unique(lab[(pale > 0) & gaps])] = True
        hit[np.unique(lab[(dented > 0) & gaps])] = False
        if od is not None and (mask > 0).any():
            level = float(np.percentile(od[::2, ::2][mask[::2, ::2] > 0], 75))
            mean = np.bincount(lab.ravel(), weights=od.ravel().astype(np.float64), minlength=n)
            mean /= np.maximum(np.bincount(lab.ravel(), minlength=n), 1)  # type: ignore[misc]
            hit &= mean >= glass_frac * level
        hit[0] = False
        mask = mask | hit[lab].astype(np.uint8)
    return mask, pale & mask
