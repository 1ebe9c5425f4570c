"""Review edits: counts, undo/redo, uncertain-first walk, added cells, serialisation."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review.state import (
    ADDED_CELL_ID_BASE,
    ReviewState,
    apply_threshold,
    image_key,
    reviewed_counts,
    reviewed_result,
)
from malaria_desktop.core.review.walk import next_uncertain, uncertain_order


def disk_cell(cell_id: int, cx: int, cy: int, r: int) -> Cell:
    """A round cell whose contour comes from its mask, as the segmenter makes them."""
    x, y, size = cx - r, cy - r, 2 * r + 1
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (r, r), r, 1, -1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = contours[0].reshape(-1, 2).astype(np.int32) + (x, y)
    return Cell(cell_id, (x, y, size, size), (float(cx), float(cy)), int(mask.sum()), mask.astype(bool), contour, False)


def make_result(path: str, probabilities: list[float], threshold: float = 0.5) -> ImageResult:
    cells = tuple(
        CellResult(disk_cell(i, 30 + 40 * i, 40, 15), p, "parasitized" if p >= threshold else "uninfected")
        for i, p in enumerate(probabilities)
    )
    return ImageResult(Path(path), "ok", image_shape=(100, 40 * len(probabilities) + 40), cells=cells,
                       cell_diameter_px=31.0, threshold=threshold)


@pytest.fixture
def results() -> dict[str, ImageResult]:
    a = make_result("a.png", [0.9, 0.1, 0.56, 0.45])
    b = make_result("b.png", [0.2, 0.51, 0.99])
    err = ImageResult(Path("bad.png"), "error", error="not an image")
    return {image_key(r.path): r for r in (a, b, err)}


def test_edits_change_reviewed_counts_but_keep_automatic(results: dict[str, ImageResult]) -> None:
    review = ReviewState()
    before = reviewed_counts(results, review).total
    assert (before.auto_cells, before.auto_parasitized) == (7, 4)
    assert (before.reviewed_cells, before.reviewed_parasitized) == (7, 4)

    review.set_label("a.png", 1, "parasitized")  # uninfected -> parasitized
    review.set_label("a.png", 0, "not_cell")  # parasitized debris removed
    review.set_label("b.png", 0, "uninfected")  # confirmation: reviewed, no change
    new_id = review.add_cell("b.png", (5, 60, 20, 22), "parasitized")

    counts = reviewed_counts(results, review)
    assert (counts.total.auto_cells, counts.total.auto_parasitized) == (7, 4)
    assert (counts.total.reviewed_cells, counts.total.reviewed_parasitized) == (7, 5)
    assert counts.per_image["a.png"].reviewed_cells == 3 and counts.per_image["a.png"].reviewed_parasitized == 2
    assert counts.per_image["b.png"].reviewed_cells == 4 and counts.per_image["b.png"].edits == 2
    assert counts.per_image["bad.png"].reviewed_cells == 0
    assert review.edits_count == 4 and review.is_edited("b.png", 0) and not review.is_edited("b.png", 1)
    assert new_id >= ADDED_CELL_ID_BASE

    reviewed = reviewed_result("b.png", results["b.png"], review)
    added = [c for c in reviewed.cells if c.cell.cell_id == new_id][0]
    assert math.isnan(added.probability) and added.label == "parasitized"
    assert added.cell.mask.shape == (22, 20) and added.cell.mask[11, 10] and not added.cell.mask[0, 0]
    assert added.cell.on_edge is False and added.cell.area_px == int(added.cell.mask.sum())
    # the automatic result itself is untouched
    assert results["a.png"].n_parasitized == 2 and results["a.png"].n_cells == 4


def test_undo_redo_walks_history(results: dict[str, ImageResult]) -> None:
    review = ReviewState()
    changes = []
    review.subscribe(changes.append)
    assert not review.can_undo and not review.undo() and not review.redo()
    review.set_label("a.png", 1, "parasitized")
    review.set_label("a.png", 1, "not_cell")
    new_id = review.add_cell("a.png", (0, 0, 10, 10), "uninfected")
    assert reviewed_counts(results, review).per_image["a.png"].reviewed_cells == 4

    assert review.undo()  # the added cell goes
    assert review.added_cells("a.png") == {} and review.can_redo
    assert review.undo()  # back to parasitized
    assert review.override("a.png", 1) == "parasitized"
    assert review.undo()  # back to automatic
    assert review.override("a.png", 1) is None and not review.can_undo
    assert reviewed_counts(results, review).total.reviewed_parasitized == 4

    assert review.redo() and review.redo() and review.redo() and not review.redo()
    assert review.override("a.png", 1) == "not_cell" and new_id in review.added_cells("a.png")
    review.undo()
    review.set_label("a.png", 2, "uninfected")  # a new edit clears the redo stack
    assert not review.can_redo
    assert [c.kind for c in changes] == ["edit"] * 3 + ["undo"] * 3 + ["redo"] * 3 + ["undo", "edit"]


def test_set_label_none_reverts_and_same_label_is_noop() -> None:
    review = ReviewState()
    review.set_label("a.png", 3, "uninfected")
    review.set_label("a.png", 3, "uninfected")
    assert review.edits_count == 1 and len(review._undo) == 1
    review.set_label("a.png", 3, None)
    assert not review.is_edited("a.png", 3)
    assert review.undo() and review.override("a.png", 3) == "uninfected"


def test_added_cell_relabel_and_remove() -> None:
    review = ReviewState()
    cid = review.add_cell("a.png", (10, 10, 30, 30), "uninfected")
    review.set_label("a.png", cid, "parasitized")
    assert review.added_cells("a.png")[cid].label == "parasitized"
    review.set_label("a.png", cid, "not_cell")
    result = make_result("a.png", [0.2])
    assert reviewed_result("a.png", result, review).n_cells == 1  # drawn-then-removed cell is not counted
    with pytest.raises(ValueError):
        review.set_label("a.png", cid, None)
    with pytest.raises(KeyError):
        review.set_label("a.png", ADDED_CELL_ID_BASE + 50, "parasitized")
    with pytest.raises(ValueError):
        review.set_label("a.png", 0, "maybe")  # type: ignore[arg-type]
    # ids stay unique even after an undone add
    review.undo(), review.undo(), review.undo()
    second = review.add_cell("a.png", (0, 0, 5, 5), "parasitized")
    assert second != cid and list(review.added_cells("a.png")) == [second]


def test_uncertain_order_closest_first_unreviewed_first(results: dict[str, ImageResult]) -> None:
    review = ReviewState()
    order = uncertain_order(results, 0.5, review)
    # |p - 0.5|: b1 .01, a3 .05, a2 .06, b0 .3, a0 .4, a1 .4, b2 .49 ; errors skipped
    assert order == [("b.png", 1), ("a.png", 3), ("a.png", 2), ("b.png", 0), ("a.png", 0), ("a.png", 1),
                     ("b.png", 2)]
    review.set_label("b.png", 1, "uninfected")
    order = uncertain_order(results, 0.5, review)
    assert order[0] == ("a.png", 3) and order[-1] == ("b.png", 1)
    assert uncertain_order(results, 0.9, review)[0] == ("a.png", 0)


def test_next_uncertain_walks_and_skips(results: dict[str, ImageResult]) -> None:
    review = ReviewState()
    first = next_uncertain(results, 0.5, review)
    assert first == ("b.png", 1)
    review.set_label(*first, "parasitized")
    second = next_uncertain(results, 0.5, review, current=first)
    assert second == ("a.png", 3)
    third = next_uncertain(results, 0.5, review, current=second)  # skipped without editing
    assert third == ("a.png", 2)
    assert next_uncertain(results, 0.5, review, current=("b.png", 2)) == ("a.png", 3)  # wraps
    for key, cid in uncertain_order(results, 0.5, review):
        review.set_label(key, cid, "uninfected")
    assert next_uncertain(results, 0.5, review) is None


def test_to_dict_round_trip() -> None:
    review = ReviewState()
    review.set_label("dir/a, b.png", 4, "not_cell")
    cid = review.add_cell("c.png", (1, 2, 3, 4), "parasitized")
    again = ReviewState.from_dict(review.to_dict())
    assert again == review
    assert again.added_cells("c.png")[cid].bbox == (1, 2, 3, 4)
    assert again.override("dir/a, b.png", 4) == "not_cell"
    with pytest.raises(ValueError):
        ReviewState.from_dict({"overrides": {"a": {"1": "bogus"}}})


def test_rename_and_forget_image() -> None:
    review = ReviewState()
    review.set_label("old.png", 1, "parasitized")
    review.rename_image("old.png", "new.png")
    assert review.override("new.png", 1) == "parasitized" and review.override("old.png", 1) is None
    assert review.undo() and review.override("new.png", 1) is None
    review.redo()
    review.forget_image("new.png")
    assert review.edits_count == 0 and not review.can_undo


def test_apply_threshold_relabels() -> None:
    result = make_result("a.png", [0.3, 0.6, 0.8])
    assert apply_threshold(result, 0.7).n_parasitized == 1
    assert apply_threshold(result, 0.3).n_parasitized == 3
    assert apply_threshold(result, 0.3).threshold == 0.3


def test_reviewed_counts_can_leave_edge_cells_out() -> None:
    from dataclasses import replace

    result = make_result("a.png", [0.9, 0.1, 0.8])
    edge = replace(result.cells[0], cell=replace(result.cells[0].cell, on_edge=True))
    result = replace(result, cells=(edge, *result.cells[1:]))
    review = ReviewState()
    review.set_label("a.png", 1, "parasitized")
    review.add_cell("a.png", (0, 0, 12, 12), "uninfected")  # touches the border
    keep = reviewed_counts({"a.png": result}, review).total
    drop = reviewed_counts({"a.png": result}, review, count_edge_cells=False).total
    assert (keep.auto_cells, keep.auto_parasitized, keep.reviewed_cells, keep.reviewed_parasitized) == (3, 2, 4, 3)
    assert (drop.auto_cells, drop.auto_parasitized, drop.reviewed_cells, drop.reviewed_parasitized) == (2, 1, 2, 2)
