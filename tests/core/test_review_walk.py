"""Keyboard walks: reading order, arrow steps, F3 finishes the image on screen before the next one."""

from __future__ import annotations

from pathlib import Path

from malaria_desktop.core.results import CellResult, ImageResult
from malaria_desktop.core.review.state import ReviewState, image_key
from malaria_desktop.core.review.walk import next_in_slide, reading_order, row_step, step_cell
from tests.core.test_review import disk_cell


def grid_result(path: str, probs: dict[tuple[int, int], float]) -> ImageResult:
    """Cells on a grid (row, col) -> probability; ids numbered in an order unrelated to reading order."""
    cells = []
    for i, ((row, col), p) in enumerate(sorted(probs.items(), key=lambda kv: -kv[1])):
        jitter = (i % 3) - 1  # rows are not perfectly straight
        cells.append(CellResult(disk_cell(i, 30 + 40 * col, 30 + 40 * row + jitter, 15), p,
                                "parasitized" if p >= 0.5 else "uninfected"))
    return ImageResult(Path(path), "ok", image_shape=(200, 200), cells=tuple(cells), cell_diameter_px=31.0,
                       threshold=0.5)


def _pos(result: ImageResult, cid: int) -> tuple[int, int]:
    cell = next(c.cell for c in result.cells if c.cell.cell_id == cid)
    return round((cell.centroid[1] - 30) / 40), round((cell.centroid[0] - 30) / 40)


def test_reading_order_rows_then_columns() -> None:
    probs = {(r, c): 0.1 * (r * 3 + c) / 9 + 0.05 * ((r + c) % 2) for r in range(3) for c in range(3)}
    result = grid_result("a.png", probs)
    review = ReviewState()
    order = reading_order("a.png", result, review)
    assert [_pos(result, cid) for cid in order] == [(r, c) for r in range(3) for c in range(3)]
    added = review.add_cell("a.png", (150, 10, 30, 30), "uninfected")  # right of the first row
    assert reading_order("a.png", result, review).index(added) == 3
    assert step_cell("a.png", result, review, order[0], 1) == order[1]
    assert step_cell("a.png", result, review, order[0], -1) == order[0]  # clamped
    assert step_cell("a.png", result, review, -1, 1) == order[0]
    below = row_step("a.png", result, review, order[4], 1)  # centre cell -> the one under it
    assert _pos(result, below) == (2, 1)
    assert row_step("a.png", result, review, order[1], -1) == order[1]  # top row: stays


def test_f3_finishes_current_image_then_moves_on_stably() -> None:
    a = grid_result("a.png", {(0, 0): 0.45, (0, 1): 0.9, (1, 0): 0.55, (1, 1): 0.5})
    b = grid_result("b.png", {(0, 0): 0.52, (0, 1): 0.1})
    results = {image_key(r.path): r for r in (a, b)}
    keys = ["a.png", "b.png"]
    review = ReviewState()
    band = (0.4, 0.6)
    walk = []
    current = ("a.png", None)
    for _ in range(4):
        current = next_in_slide(results, keys, review, band, current)
        walk.append((current[0], _pos(results[current[0]], current[1])))
    assert walk == [("a.png", (0, 0)), ("a.png", (1, 0)), ("a.png", (1, 1)), ("b.png", (0, 0))]
    # a clicked cell (not uncertain) continues from its place in reading order, not from a global rank
    clicked = next(c.cell.cell_id for c in a.cells if _pos(a, c.cell.cell_id) == (0, 1))
    nxt = next_in_slide(results, keys, review, band, ("a.png", clicked))
    assert _pos(a, nxt[1]) == (1, 0)
    # reviewed cells are skipped; with all reviewed the walk ends
    for key, r in results.items():
        for c in r.cells:
            if 0.4 <= c.probability <= 0.6 and _pos(r, c.cell.cell_id) != (1, 1):
                review.set_label(key, c.cell.cell_id, c.label)
    last = next(c.cell.cell_id for c in a.cells if _pos(a, c.cell.cell_id) == (1, 1))
    assert next_in_slide(results, keys, review, band, ("b.png", None)) == ("a.png", last)
    assert next_in_slide(results, keys, review, band, ("a.png", last)) == ("a.png", last)  # the only one left
    review.set_label("a.png", last, "uninfected")
    assert next_in_slide(results, keys, review, band, ("a.png", last)) is None
