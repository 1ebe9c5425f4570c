"""Review queues: parasitized calls to confirm vs borderline uninfected cells, counters, walks, 'reviewed'."""

from __future__ import annotations

import math

from malaria_desktop.core.review.queues import next_in_queue, queue_counts, queue_of
from malaria_desktop.core.review.state import ReviewState, image_key
from tests.core.test_review_walk import _pos, grid_result

BAND = (0.3, 0.99)  # a calibrated band reaching almost to 1, like the bundled model's


def test_queue_of_splits_the_band_at_the_threshold() -> None:
    assert queue_of(0.995, 0.5, BAND) == "confirm"  # above the band's top: still a call to confirm
    assert queue_of(0.7, 0.5, BAND) == "confirm"
    assert queue_of(0.5, 0.5, BAND) == "confirm"
    assert queue_of(0.35, 0.5, BAND) == "uncertain"
    assert queue_of(0.1, 0.5, BAND) is None
    assert queue_of(math.nan, 0.5, BAND) is None  # drawn cells have no model call


def test_counts_walks_and_the_reviewed_rule() -> None:
    a = grid_result("a.png", {(0, 0): 0.9, (0, 1): 0.35, (1, 0): 0.1, (1, 1): 0.6})
    b = grid_result("b.png", {(0, 0): 0.4, (0, 1): 0.05})
    results = {image_key(r.path): r for r in (a, b)}
    keys = ["a.png", "b.png"]
    review = ReviewState()
    counts = queue_counts(results, review, 0.5, BAND)
    assert (counts.confirm.total, counts.confirm.left, counts.uncertain.total, counts.uncertain.left) == (2, 2, 2, 2)
    assert not counts.reviewed and counts.describe() == "Not reviewed yet: 4 cells left (2 to confirm, 2 uncertain)."
    walk, current = [], ("a.png", None)
    for _ in range(2):
        current = next_in_queue(results, keys, review, "uncertain", 0.5, BAND, current)
        walk.append((current[0], _pos(results[current[0]], current[1])))
    assert walk == [("a.png", (0, 1)), ("b.png", (0, 0))]
    first = next_in_queue(results, keys, review, "confirm", 0.5, BAND, ("a.png", None))
    assert _pos(a, first[1]) == (0, 0)
    for key, result in results.items():  # the technician decides on every cell of both queues
        for cr in result.cells:
            if queue_of(cr.probability, 0.5, BAND) is not None:
                review.set_label(key, cr.cell.cell_id, "uninfected")
    done = queue_counts(results, review, 0.5, BAND)
    assert done.reviewed and done.left == 0 and done.confirm.total == 2
    assert done.describe() == "Reviewed: both queues are empty."
    assert next_in_queue(results, keys, review, "confirm", 0.5, BAND, first) is None
    review.undo()  # one cell back in its queue
    assert queue_counts(results, review, 0.5, BAND).left == 1


def test_cells_accepted_without_being_shown_stay_in_their_queue() -> None:
    a = grid_result("a.png", {(0, 0): 0.9, (0, 1): 0.35, (1, 0): 0.8})
    results, review = {"a.png": a}, ReviewState()
    calls = [cr.cell.cell_id for cr in a.cells if cr.probability >= 0.5]
    with review.acceptance.unseen(), review.batch():  # select-all + accept in the gallery
        for cell_id in calls:
            review.set_label("a.png", cell_id, "parasitized")
    counts = queue_counts(results, review, 0.5, BAND)
    assert counts.confirm.left == 2 and not counts.reviewed  # accepted, not reviewed
    shown = next_in_queue(results, ["a.png"], review, "confirm", 0.5, BAND)
    assert shown is not None and shown[1] in calls  # the walk still shows them
    review.acceptance.mark_seen([shown])  # shown and confirmed (the window marks a labelled cell seen)
    assert queue_counts(results, review, 0.5, BAND).confirm.left == 1
