"""The review queues in the window: walk one with F4 / F3, one key per cell, and the "N left" counters.

``core.review.queues`` says which cells are in which queue and which comes next; this controller shows
that cell (image, selection, a few cells of context), and after a P/U/N on a cell of the queue being
walked it moves straight on to the queue's next cell, like the gallery does (issue 20: the walk in the
image cost two keys per cell). The counters are recomputed per image only when that image's result or
edits changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from malaria_desktop.core.review.acceptance import KEY as UNSEEN
from malaria_desktop.core.review.queues import (
    QUEUE_TEXT,
    QueueCounts,
    QueueName,
    image_queue_counts,
    next_in_queue,
    queue_of,
)
from malaria_desktop.qt.actions import ActionId

if TYPE_CHECKING:
    from malaria_desktop.qt.controllers.review import ReviewController
    from malaria_desktop.qt.queue_panel import QueuePanel

LABEL_IDS = (ActionId.MARK_PARASITIZED, ActionId.MARK_UNINFECTED, ActionId.MARK_NOT_CELL)


class QueueController(QObject):
    """Owns F3 / F4 and the queue panel; borrows the review controller's document, viewer and view."""

    countsChanged = Signal(object)  # QueueCounts

    def __init__(self, review: ReviewController, panel: QueuePanel | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.review, self.panel = review, panel
        self.document, self.view = review.document, review.view
        self.walking: QueueName | None = None  # the queue F3/F4 last walked: labels there move on
        self._cache: dict[str, tuple[Any, tuple, QueueCounts]] = {}
        actions = review.actions
        actions[ActionId.NEXT_UNCERTAIN].triggered.connect(lambda: self.walk("uncertain"))
        actions[ActionId.NEXT_CONFIRM].triggered.connect(lambda: self.walk("confirm"))
        for action_id in LABEL_IDS:  # connected after the review controller's: the label is set by now
            actions[action_id].triggered.connect(self._labelled)
        if panel is not None:
            panel.walkRequested.connect(lambda q: self.walk(q))
        for signal in (self.document.countsChanged, self.document.entriesReset):
            signal.connect(self.update_counts)
            signal.connect(self._recount_soon)  # again once the caller is done (a gallery A marks seen after)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.update_counts)

    def _threshold_band(self) -> tuple[float, tuple[float, float]]:
        return self.document.threshold, tuple(self.review.band())  # type: ignore[return-value]

    def walk(self, queue: str) -> tuple[str, int] | None:
        """Show the next undecided cell of ``queue`` after the selected one (this image, then the next)."""
        q: QueueName = "confirm" if queue == "confirm" else "uncertain"
        self.walking = q
        viewer = self.review.viewer
        key_now, selected = viewer.current_key, self.view.selected_cell
        current = (key_now, selected if selected >= 0 else None) if key_now else None
        threshold, band = self._threshold_band()
        keys = [e.key for e in self.document.entries]
        target = next_in_queue(self.document.results, keys, self.document.review, q, threshold, band, current)
        if target is None:
            self.review.status(f"The queue \u201c{QUEUE_TEXT[q]}\u201d is empty.", 5000)
            return None
        key, cell_id = target
        if key != viewer.current_key:
            viewer.select_key(key)
            viewer.show_image(key)
        self.view.select_cell(cell_id, centre=True)
        self.view.setFocus()  # the walk is in the image: P/U/N go to this cell, even from the gallery or a button
        self.review.describe_cell(cell_id)
        self.review.ctx.refresh_actions()
        return target

    def _labelled(self) -> None:
        """After P/U/N in the image: the cells were seen (a bulk accept's unseen mark goes); on a cell of the
        queue being walked, go to that queue's next cell."""
        key, cell_id = self.review.viewer.current_key, self.view.selected_cell
        result = self.document.result(key) if key else None
        if key is not None:
            self.document.review.acceptance.mark_seen([(key, c) for c in self.view.selected_cells])
            self.update_counts()
        if self.walking is None or result is None or cell_id < 0 or len(self.view.selected_cells) != 1:
            return
        if not self.document.review.is_edited(key, cell_id):  # type: ignore[arg-type]
            return  # the label was refused (status line says why)
        threshold, band = self._threshold_band()
        probability = next((cr.probability for cr in result.cells if cr.cell.cell_id == cell_id), None)
        if probability is not None and queue_of(probability, threshold, band) == self.walking:
            self.walk(self.walking)

    def counts(self) -> QueueCounts | None:
        """Both queues of the slide (None: nothing analysed); one image recounted per change."""
        results = self.document.results
        if not any(r.status == "ok" for r in results.values()):
            return None
        review = self.document.review
        threshold, band = self._threshold_band()
        unseen = review.acceptance.to_dict().get(UNSEEN, {})  # marks that change without a review edit
        total = QueueCounts()
        for key, result in results.items():
            signature = (review.version(key), id(review), threshold, band, tuple(unseen.get(key, ())))
            hit = self._cache.get(key)
            if hit is None or hit[0] is not result or hit[1] != signature:
                hit = (result, signature, image_queue_counts(key, result, review, threshold, band))
                self._cache[key] = hit
            total = total + hit[2]
        for gone in set(self._cache) - set(results):
            del self._cache[gone]
        return total

    def _recount_soon(self) -> None:
        self._soon.start()

    def update_counts(self) -> None:
        counts = self.counts()
        self.review.actions[ActionId.NEXT_CONFIRM].setEnabled(counts is not None)
        if self.panel is not None:
            self.panel.show_counts(counts)
        self.countsChanged.emit(counts)
