"""The two review queues a technician works through before the slide counts as reviewed (no Qt here).

Why two: the calibrated "uncertain" band of the bundled model reaches up to ~1.0, so one uncertain queue
held every parasitized call *and* the borderline uninfected cells (issue 20). The questions differ:

- ``"confirm"``: the model calls the cell parasitized -> *likely parasitized, confirm* (each call is
  looked at before a parasitemia is reported);
- ``"uncertain"``: the model calls it uninfected but its probability lies in the uncertain band.

A cell leaves its queue once the technician has decided on it *having seen it*: a label given by a bulk
accept to cells nobody looked at (``ReviewState.acceptance``, issue 19) leaves the cell in its queue,
so "reviewed" means every queued cell was shown. Walks follow
``walk.reading_order`` inside each image, images in slide order, so the next cell depends only on
where the technician is. The slide is *reviewed* when both queues are empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review.walk import next_todo as _next

if TYPE_CHECKING:
    from malaria_desktop.core.review.state import ImageKey, ReviewState

QueueName = Literal["confirm", "uncertain"]
QUEUES: tuple[QueueName, ...] = ("confirm", "uncertain")
QUEUE_TEXT: dict[QueueName, str] = {"confirm": "Likely parasitized \u2013 confirm", "uncertain": "Uncertain"}
Band = tuple[float, float]


def queue_of(probability: float, threshold: float, band: Band) -> QueueName | None:
    """Which queue a segmented cell with this P(parasitized) belongs to (None: neither; drawn cells: NaN)."""
    if math.isnan(probability):
        return None
    if probability >= threshold:
        return "confirm"
    return "uncertain" if band[0] <= probability <= band[1] else None


def decided(review: ReviewState, key: ImageKey, cell_id: int) -> bool:
    """Labelled by the technician, and not only by a bulk accept of cells nobody saw."""
    return review.is_edited(key, cell_id) and not review.acceptance.is_unseen(key, cell_id)


def queue_cells(key: ImageKey, result: ImageResult, review: ReviewState, queue: QueueName, threshold: float,
                band: Band, *, left_only: bool = True) -> set[int]:
    """Ids of this image's cells in ``queue`` (``left_only``: those not decided on yet)."""
    if result.status != "ok":
        return set()
    return {cr.cell.cell_id for cr in result.cells if queue_of(cr.probability, threshold, band) == queue
            and not (left_only and decided(review, key, cr.cell.cell_id))}


@dataclass(frozen=True)
class QueueCount:
    """One queue of one image (or the slide): cells in it, and how many are still to be decided."""

    total: int = 0
    left: int = 0

    def __add__(self, other: QueueCount) -> QueueCount:
        return QueueCount(self.total + other.total, self.left + other.left)


@dataclass(frozen=True)
class QueueCounts:
    """Both queues; ``reviewed`` is the slide-level rule: nothing left in either."""

    confirm: QueueCount = QueueCount()
    uncertain: QueueCount = QueueCount()

    def __add__(self, other: QueueCounts) -> QueueCounts:
        return QueueCounts(self.confirm + other.confirm, self.uncertain + other.uncertain)

    def of(self, queue: QueueName) -> QueueCount:
        return self.confirm if queue == "confirm" else self.uncertain

    @property
    def left(self) -> int:
        return self.confirm.left + self.uncertain.left

    @property
    def reviewed(self) -> bool:
        return self.left == 0

    def describe(self) -> str:
        """What is left, in words for the panel (the same sentence the tests read)."""
        if self.confirm.total + self.uncertain.total == 0:
            return "Nothing to review: no parasitized or uncertain cells."
        if self.reviewed:
            return "Reviewed: both queues are empty."
        parts = [f"{n} to confirm" for n in [self.confirm.left] if n] + \
            [f"{n} uncertain" for n in [self.uncertain.left] if n]
        return f"Not reviewed yet: {self.left} cell{'s' if self.left != 1 else ''} left ({', '.join(parts)})."


def image_queue_counts(key: ImageKey, result: ImageResult, review: ReviewState, threshold: float,
                       band: Band) -> QueueCounts:
    """Both queues of one image (callers cache it per result object and review version)."""
    if result.status != "ok":
        return QueueCounts()
    totals = {"confirm": [0, 0], "uncertain": [0, 0]}
    for cr in result.cells:
        queue = queue_of(cr.probability, threshold, band)
        if queue is not None:
            totals[queue][0] += 1
            totals[queue][1] += not decided(review, key, cr.cell.cell_id)
    return QueueCounts(QueueCount(*totals["confirm"]), QueueCount(*totals["uncertain"]))


def queue_counts(results: Mapping[str, ImageResult], review: ReviewState, threshold: float,
                 band: Band) -> QueueCounts:
    """Both queues of the slide."""
    total = QueueCounts()
    for key, result in results.items():
        total = total + image_queue_counts(key, result, review, threshold, band)
    return total


def next_in_queue(results: Mapping[str, ImageResult], keys: Sequence[str], review: ReviewState, queue: QueueName,
                  threshold: float, band: Band, current: tuple[str, int | None] | None = None
                  ) -> tuple[str, int] | None:
    """The next undecided cell of ``queue`` after ``current`` (wraps round the slide; None when empty)."""
    return _next(results, keys, review,
                 lambda key, result: queue_cells(key, result, review, queue, threshold, band), current)
