"""Review that is review: bulk-accepted cells nobody saw are reported as accepted, not reviewed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from malaria_desktop.core.results import PARASITIZED, UNINFECTED, Cell, CellResult, ImageResult
from malaria_desktop.core.review.state import ReviewState
from malaria_desktop.core.review.tally import review_tally


def make_result(labels: list[str]) -> ImageResult:
    cells = []
    for i, label in enumerate(labels):
        mask = np.ones((10, 10), bool)
        contour = np.array([[i * 20, 0], [i * 20 + 9, 0], [i * 20 + 9, 9], [i * 20, 9]], np.int32)
        cell = Cell(i, (i * 20, 0, 10, 10), (i * 20 + 5.0, 5.0), 100, mask, contour, False)
        cells.append(CellResult(cell, 0.99 if label == PARASITIZED else 0.01, label))  # type: ignore[arg-type]
    return ImageResult(Path("f.png"), "ok", image_shape=(50, 20 * len(labels) + 10), cells=tuple(cells))


def test_bulk_accept_is_accepted_not_reviewed() -> None:
    result = make_result([PARASITIZED, PARASITIZED, UNINFECTED, UNINFECTED])
    review = ReviewState()
    with review.batch():
        review.set_label("f.png", 0, PARASITIZED)  # looked at
    with review.acceptance.unseen(), review.batch():  # select all + accept: nobody saw these
        for cid in (1, 2, 3):
            review.set_label("f.png", cid, result.cells[cid].label)
    tally = review_tally({"f.png": result}, review)
    assert (tally.reviewed, tally.accepted) == (1, 3)
    assert (tally.parasitized, tally.parasitized_confirmed) == (2, 1)
    assert tally.unconfirmed_share == 0.5


def test_a_later_look_makes_an_accepted_cell_reviewed_and_saving_keeps_the_record() -> None:
    result = make_result([PARASITIZED, UNINFECTED])
    review = ReviewState()
    with review.acceptance.unseen():
        review.set_label("f.png", 0, PARASITIZED)
        review.set_label("f.png", 1, UNINFECTED)
    restored = ReviewState.from_dict(review.to_dict())
    assert review_tally({"f.png": result}, restored).accepted == 2
    assert restored == review
    review.set_label("f.png", 1, PARASITIZED)  # the technician opened it and changed it: seen
    review.acceptance.mark_seen([("f.png", 0)])  # accepted while on screen
    tally = review_tally({"f.png": result}, review)
    assert (tally.reviewed, tally.accepted, tally.parasitized_confirmed) == (2, 0, 2)


def test_undo_of_a_bulk_accept_leaves_nothing_reported() -> None:
    result = make_result([PARASITIZED, UNINFECTED])
    review = ReviewState()
    with review.acceptance.unseen(), review.batch():
        review.set_label("f.png", 0, PARASITIZED)
        review.set_label("f.png", 1, UNINFECTED)
    review.undo()
    tally = review_tally({"f.png": result}, review)
    assert (tally.reviewed, tally.accepted, tally.parasitized_confirmed) == (0, 0, 0)
    assert tally.unconfirmed_share == 1.0
    review.forget_image("f.png")
    assert review.to_dict() == {"overrides": {}, "added": {}}  # old sessions' format when nothing is unseen
