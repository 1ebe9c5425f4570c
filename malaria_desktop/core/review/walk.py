"""Which cell comes next when the technician reviews with the keyboard (no Qt here).

Two walks:

- ``uncertain_order`` / ``next_uncertain``: the whole slide, closest to the threshold first (the first
  review walk, kept for the CLI and tests).
- ``reading_order`` / ``next_in_slide``: cells in reading order (rows top to bottom, left to right) inside
  each image, images in slide order. Arrow keys and Tab step through all cells; F3 steps through the
  *unreviewed uncertain* ones. Stable: the next cell depends only on where the technician is, never on a
  global probability rank, so F3 finishes the image on screen before it moves to the next image.

``band`` is ``(low, high)``: a probability in it is *uncertain* (``core.classification.model_card.UncertainBand``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review.state import ImageKey, ReviewState

ROW_FRACTION = 0.6  # a cell whose centre lies this many diameters below a row's first cell starts a new row


def _walk(results: Mapping[str, ImageResult], threshold: float) -> list[tuple[float, str, int]]:
    items = []
    for key, result in results.items():
        if result.status != "ok":
            continue
        for cr in result.cells:
            if not math.isnan(cr.probability):
                items.append((abs(cr.probability - threshold), key, cr.cell.cell_id))
    items.sort()
    return items


def uncertain_order(results: Mapping[str, ImageResult], threshold: float,
                    review: "ReviewState") -> list[tuple[str, int]]:
    """Segmented cells, unreviewed first, each group closest to the threshold first (ties: key, id)."""
    walk = _walk(results, threshold)
    todo = [(k, c) for _, k, c in walk if not review.is_edited(k, c)]
    done = [(k, c) for _, k, c in walk if review.is_edited(k, c)]
    return todo + done


def next_uncertain(results: Mapping[str, ImageResult], threshold: float, review: "ReviewState",
                   current: tuple[str, int] | None = None) -> tuple[str, int] | None:
    """The next unreviewed cell after ``current`` in the closest-to-threshold walk (wraps; None if none left)."""
    walk = _walk(results, threshold)
    todo = [(d, k, c) for d, k, c in walk if not review.is_edited(k, c)]
    if not todo:
        return None
    if current is not None:
        position = next(((d, k, c) for d, k, c in walk if (k, c) == tuple(current)), None)
        if position is not None:
            later = [t for t in todo if t > position]
            if later:
                return later[0][1], later[0][2]
    return todo[0][1], todo[0][2]


def _rows(points: list[tuple[float, float, int]], diameter: float) -> list[list[tuple[float, float, int]]]:
    """``(x, y, id)`` points grouped in rows of similar y (top to bottom), each row left to right."""
    points = sorted(points, key=lambda p: (p[1], p[0], p[2]))
    rows: list[list[tuple[float, float, int]]] = []
    row: list[tuple[float, float, int]] = []
    for p in points:
        if row and p[1] - row[0][1] > ROW_FRACTION * diameter:
            rows.append(sorted(row, key=lambda q: (q[0], q[2])))
            row = []
        row.append(p)
    if row:
        rows.append(sorted(row, key=lambda q: (q[0], q[2])))
    return rows


def _image_rows(key: "ImageKey", result: ImageResult, review: "ReviewState") -> list[list[tuple[float, float, int]]]:
    if result.status != "ok":
        return []
    points = [(cr.cell.centroid[0], cr.cell.centroid[1], cr.cell.cell_id) for cr in result.cells]
    points += [(x + w / 2.0, y + h / 2.0, cid) for cid, a in review.added_cells(key).items()
               if a.label != "not_cell" for x, y, w, h in [a.bbox]]
    return _rows(points, result.cell_diameter_px or 30.0)


def reading_order(key: "ImageKey", result: ImageResult, review: "ReviewState") -> list[int]:
    """Every cell shown in the image (segmented and added) in reading order."""
    return [p[2] for row in _image_rows(key, result, review) for p in row]


def row_step(key: "ImageKey", result: ImageResult, review: "ReviewState", current: int, step: int) -> int | None:
    """The cell in the row above (``step`` -1) or below (+1) nearest in x to ``current`` (clamped)."""
    rows = _image_rows(key, result, review)
    where = next(((r, p) for r, row in enumerate(rows) for p in row if p[2] == current), None)
    if where is None:
        return step_cell(key, result, review, current, step)
    r, (x, _y, _id) = where
    target = rows[max(0, min(len(rows) - 1, r + step))]
    return min(target, key=lambda p: (abs(p[0] - x), p[2]))[2]


def _uncertain_ids(key: "ImageKey", result: ImageResult, review: "ReviewState",
                   band: tuple[float, float]) -> set[int]:
    low, high = band
    return {cr.cell.cell_id for cr in result.cells
            if not math.isnan(cr.probability) and low <= cr.probability <= high
            and not review.is_edited(key, cr.cell.cell_id)}


def step_cell(key: "ImageKey", result: ImageResult, review: "ReviewState", current: int, step: int) -> int | None:
    """The cell ``step`` places from ``current`` in reading order (clamped; first/last when none is current)."""
    order = reading_order(key, result, review)
    if not order:
        return None
    if current not in order:
        return order[0] if step > 0 else order[-1]
    i = order.index(current) + step
    return order[max(0, min(len(order) - 1, i))]


def next_todo(results: Mapping[str, ImageResult], keys: Sequence[str], review: "ReviewState",
              todo_of: Callable[[str, ImageResult], set[int]], current: tuple[str, int | None] | None
              ) -> tuple[str, int] | None:
    """The first cell of ``todo_of`` after ``current`` in reading order: this image, then the next ones."""
    keys = [k for k in keys if k in results and results[k].status == "ok"]
    if not keys:
        return None
    start_key, start_cell = current if current is not None and current[0] in keys else (keys[0], None)
    first = keys.index(start_key)
    for n in range(len(keys) + 1):
        key = keys[(first + n) % len(keys)]
        todo = todo_of(key, results[key])
        if not todo:
            continue
        order = reading_order(key, results[key], review)
        if start_cell in order and n == 0:
            order = order[order.index(start_cell) + 1:]  # the rest of the image on screen
        elif start_cell in order and n == len(keys):
            order = order[: order.index(start_cell) + 1]  # wrapped round: the start image's first part
        found = next((c for c in order if c in todo), None)
        if found is not None:
            return key, found
    return None


def next_in_slide(results: Mapping[str, ImageResult], keys: Sequence[str], review: "ReviewState",
                  band: tuple[float, float], current: tuple[str, int | None] | None = None
                  ) -> tuple[str, int] | None:
    """The next unreviewed uncertain cell after ``current``: the rest of this image, then the next images.

    ``keys`` is the slide's image order; ``current`` is ``(key, cell_id)`` (``cell_id`` None or unknown:
    start of that image). Wraps round the slide; None when no unreviewed uncertain cell is left.
    """
    return next_todo(results, keys, review, lambda key, result: _uncertain_ids(key, result, review, band), current)
