"""Clump tools: split a detected region into N cells, merge two regions, delete one — as review edits.

Why edits and not a new segmentation: the engine's automatic result stays untouched (automatic and
reviewed counts both stay available); a split turns the region into ``not_cell`` and adds its pieces as
outlined cells, a merge does the same the other way round. Each tool is one undo step
(``ReviewState.batch``), so Ctrl+Z puts the clump back. No Qt here.
"""

from __future__ import annotations

import cv2
import numpy as np

from malaria_desktop.core.results import PARASITIZED, UNINFECTED, Cell, ImageResult
from malaria_desktop.core.review.state import NOT_CELL, ImageKey, ReviewState, added_cell_result

MAX_PIECES = 12
MIN_PIECE_PX = 12  # smaller bits of a split are given back to the neighbouring piece


class RegionEditError(ValueError):
    """The edit cannot be made (unknown cell, nothing to split...); the message says why in plain words."""


def region(key: ImageKey, result: ImageResult, review: ReviewState, cell_id: int) -> Cell:
    """The cell as shown after review (segmented or added); raises RegionEditError when it is not there
    (or was removed: marked not a cell, split or merged)."""
    for cr in result.cells:
        if cr.cell.cell_id == cell_id:
            if review.label_of(key, cr) == NOT_CELL:
                raise RegionEditError(f"Cell {cell_id} was removed (not a cell); undo that first.")
            return cr.cell
    added = review.added_cells(key).get(cell_id)
    extra = added_cell_result(cell_id, added, result.image_shape) if added is not None else None
    if extra is None:
        raise RegionEditError(f"There is no cell {cell_id} in this image.")
    return extra.cell


def _outline(mask: np.ndarray, x0: int, y0: int) -> tuple[tuple[int, int, int, int], list[tuple[int, int]]]:
    """Bounding box and outer polygon (image pixels) of the largest part of a local mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = max(contours, key=cv2.contourArea).reshape(-1, 2)
    if len(contour) < 3:  # a sliver: use its box
        x, y, w, h = cv2.boundingRect(contour.reshape(-1, 1, 2))
        contour = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    x, y, w, h = cv2.boundingRect(contour.reshape(-1, 1, 2).astype(np.int32))
    return (x + x0, y + y0, w + 1, h + 1), [(int(px) + x0, int(py) + y0) for px, py in contour]


def split_mask(mask: np.ndarray, n: int) -> np.ndarray:
    """Labels 1..n inside ``mask``: k-means seeds on the cell's pixels, grown along the distance relief.

    The seeds come from clustering pixel positions weighted towards the middle of each lobe (distance
    transform), and the watershed on the inverted distance puts the cuts at the necks of the clump.
    """
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    ys, xs = np.nonzero(m)
    if n < 2 or len(xs) < n * MIN_PIECE_PX:
        raise RegionEditError(f"This region is too small to split into {n} cells.")
    padded = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    weights = dist[ys, xs]
    inner = weights >= np.percentile(weights, 50)  # cluster the cores, not the thin bridges
    pts = np.column_stack([xs[inner], ys[inner]]).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.2)
    cv2.setRNGSeed(0)
    _c, assign, _centres = cv2.kmeans(pts, n, None, criteria, 5, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    markers = np.zeros(m.shape, np.int32)
    markers[m == 0] = n + 1  # background
    for (x, y), k in zip(pts.astype(int), assign.ravel(), strict=False):
        markers[y, x] = k + 1
    relief = cv2.normalize(-dist, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # type: ignore[call-overload]
    # pad by one pixel: cv2.watershed marks the image's own border as a boundary line
    markers = cv2.copyMakeBorder(markers, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=n + 1)  # type: ignore[assignment]
    relief = cv2.copyMakeBorder(relief, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=255)
    labels = cv2.watershed(cv2.merge([relief, relief, relief]), markers)[1:-1, 1:-1]
    labels[(labels == n + 1) | (labels < 0) | (m == 0)] = 0
    for _ in range(4):  # watershed lines are cell pixels too: give them to a neighbouring piece
        gaps = (labels == 0) & (m > 0)
        if not gaps.any():
            break
        grown = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
        labels[gaps] = grown[gaps]
    return labels


def split_region(key: ImageKey, result: ImageResult, review: ReviewState, cell_id: int, n: int = 2,
                 label: str = UNINFECTED) -> list[int]:
    """Split one region into ``n`` cells (one undo step); returns the new cells' ids.

    The pieces are added as ``label`` (uninfected by default: the technician marks the infected one),
    the region itself becomes ``not_cell``.
    """
    if not 2 <= n <= MAX_PIECES:
        raise RegionEditError(f"A region can be split into 2 to {MAX_PIECES} cells, not {n}.")
    cell = region(key, result, review, cell_id)
    labels = split_mask(cell.mask, n)
    x0, y0 = cell.bbox[:2]
    pieces = []
    for k in range(1, n + 1):
        part = labels == k
        if part.sum() < MIN_PIECE_PX:
            raise RegionEditError(f"Splitting into {n} cells leaves a piece too small to be a cell.")
        pieces.append(_outline(part, x0, y0))
    with review.batch():
        review.set_label(key, cell_id, NOT_CELL)
        return [review.add_cell(key, bbox, label, outline=poly) for bbox, poly in pieces]  # type: ignore[arg-type]


def split_by_line(key: ImageKey, result: ImageResult, review: ReviewState, cell_id: int,
                  p0: tuple[float, float], p1: tuple[float, float], label: str = UNINFECTED) -> list[int]:
    """Cut a region along a drawn line (image pixels); every part of at least MIN_PIECE_PX becomes a cell."""
    cell = region(key, result, review, cell_id)
    x0, y0 = cell.bbox[:2]
    m = cell.mask.astype(np.uint8).copy()
    a = (int(round(p0[0] - x0)), int(round(p0[1] - y0)))
    b = (int(round(p1[0] - x0)), int(round(p1[1] - y0)))
    cv2.line(m, a, b, 0, 2)
    n, labels = cv2.connectedComponents(m, connectivity=4)
    parts = [labels == k for k in range(1, n) if (labels == k).sum() >= MIN_PIECE_PX]
    if len(parts) < 2:
        raise RegionEditError("The line does not cut this region in two: draw it across the whole cell.")
    pieces = [_outline(p, x0, y0) for p in parts]
    with review.batch():
        review.set_label(key, cell_id, NOT_CELL)
        return [review.add_cell(key, bbox, label, outline=poly) for bbox, poly in pieces]  # type: ignore[arg-type]


def merge_regions(key: ImageKey, result: ImageResult, review: ReviewState, cell_ids: list[int]) -> int:
    """Merge two or more regions into one cell (one undo step); returns its id.

    The merged cell is parasitized when any part was (as shown after review). Parts that do not touch are
    joined by their convex hull, which is what a cell cut in two by the segmenter looks like.
    """
    ids = list(dict.fromkeys(cell_ids))
    if len(ids) < 2:
        raise RegionEditError("Select at least two cells to merge.")
    cells = [region(key, result, review, cid) for cid in ids]
    x0 = min(c.bbox[0] for c in cells)
    y0 = min(c.bbox[1] for c in cells)
    x1 = max(c.bbox[0] + c.bbox[2] for c in cells)
    y1 = max(c.bbox[1] + c.bbox[3] for c in cells)
    union = np.zeros((y1 - y0 + 4, x1 - x0 + 4), np.uint8)
    for c in cells:
        x, y, w, h = c.bbox
        union[y - y0 : y - y0 + h, x - x0 : x - x0 + w] |= c.mask.astype(np.uint8)
    union = cv2.morphologyEx(union, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))  # type: ignore[assignment]  # bridges a cut line
    n, _ = cv2.connectedComponents(union)
    if n > 2:  # separate parts: the hull of all of them
        pts = cv2.findNonZero(union)
        union = np.zeros_like(union)
        cv2.fillPoly(union, [cv2.convexHull(pts)], 1)
    bbox, poly = _outline(union, x0, y0)
    shown = _shown_labels(key, result, review)
    label = PARASITIZED if any(shown.get(cid) == PARASITIZED for cid in ids) else UNINFECTED
    with review.batch():
        for cid in ids:
            review.set_label(key, cid, NOT_CELL)
        return review.add_cell(key, bbox, label, outline=poly)


def region_at(key: ImageKey, result: ImageResult, review: ReviewState, x: float, y: float) -> int | None:
    """The id of the shown cell whose mask covers image pixel (x, y), or None (drawn cells win ties)."""
    ids = [cid for cid, a in review.added_cells(key).items() if a.label != NOT_CELL]
    ids += [cr.cell.cell_id for cr in result.cells if review.label_of(key, cr) != NOT_CELL]
    for cid in ids:
        try:
            cell = region(key, result, review, cid)
        except RegionEditError:
            continue
        bx, by, w, h = cell.bbox
        col, row = int(x) - bx, int(y) - by
        if 0 <= row < h and 0 <= col < w and cell.mask[row, col]:
            return cid
    return None


def delete_region(key: ImageKey, result: ImageResult, review: ReviewState, cell_id: int) -> None:
    """Remove a region from the counts (``not_cell``; undoable like any label)."""
    region(key, result, review, cell_id)
    review.set_label(key, cell_id, NOT_CELL)


def _shown_labels(key: ImageKey, result: ImageResult, review: ReviewState) -> dict[int, str]:
    labels: dict[int, str] = {cr.cell.cell_id: review.label_of(key, cr) for cr in result.cells}
    labels.update({cid: a.label for cid, a in review.added_cells(key).items()})
    return labels


def pieces_area(key: ImageKey, result: ImageResult, review: ReviewState, ids: list[int]) -> int:
    """Total mask area of some cells (tests and the status bar: a split keeps the region's pixels)."""
    return int(sum(region(key, result, review, cid).mask.sum() for cid in ids))


__all__ = ["RegionEditError", "split_mask", "split_region", "split_by_line", "merge_regions", "delete_region",
           "region", "region_at", "pieces_area", "MAX_PIECES"]
