"""Several edits as one undo step (multi-select labelling, split, merge) and outlined added cells."""

from __future__ import annotations

from malaria_desktop.core.review.state import ReviewState, reviewed_counts, reviewed_result
from tests.core.test_review import make_result


def test_batch_is_one_undo_step_and_one_notification() -> None:
    results = {"a.png": make_result("a.png", [0.9, 0.1, 0.56, 0.45])}
    review = ReviewState()
    changes = []
    review.subscribe(changes.append)
    with review.batch():
        review.set_label("a.png", 0, "uninfected")
        review.set_label("a.png", 1, "parasitized")
        with review.batch():  # nested: joins the outer step
            review.set_label("a.png", 2, "not_cell")
    assert len(changes) == 1 and changes[0].kind == "edit"
    assert set(changes[0].cells) == {("a.png", 0), ("a.png", 1), ("a.png", 2)}
    assert reviewed_counts(results, review).total.reviewed_cells == 3
    assert review.undo() and review.edits_count == 0 and not review.can_undo
    assert changes[-1].kind == "undo" and len(changes[-1].cells) == 3
    assert review.redo() and review.edits_count == 3
    with review.batch():
        pass  # an empty batch is no step
    assert len(changes) == 3
    review.forget_image("a.png")
    assert not review.can_undo


def test_added_cell_with_outline_round_trips() -> None:
    result = make_result("a.png", [0.9])
    review = ReviewState()
    triangle = [(10, 60), (30, 60), (10, 80)]
    cid = review.add_cell("a.png", (10, 60, 21, 21), "parasitized", outline=triangle)
    cell = next(c for c in reviewed_result("a.png", result, review).cells if c.cell.cell_id == cid).cell
    assert cell.mask[1, 1] and not cell.mask[19, 19]  # a triangle, not an ellipse
    again = ReviewState.from_dict(review.to_dict())
    assert again == review and again.added_cells("a.png")[cid].outline == tuple(triangle)
