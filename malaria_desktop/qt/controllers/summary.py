"""The slide's figures in the right-hand panel, recomputed whenever the counts change.

On a large slide (``THROTTLE_FROM_IMAGES`` or more) the refresh runs at most every ``THROTTLE_MS``:
each one walks every image, and doing it after every result made adding 1,000 images superlinear
(issue 11 item 8). A change that arrives meanwhile is shown by one trailing refresh, never dropped.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer

from malaria_desktop.core.report.estimate import rates_from_model_info
from malaria_desktop.core.review.tally import review_tally
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.summary_panel import SummaryPanel, slide_figures
from malaria_desktop.qt.warning_groups import group_warnings

THROTTLE_FROM_IMAGES = 200
THROTTLE_MS = 250


class SummaryController(QObject):
    """Automatic and reviewed figures, flags and image-quality notes of the open slide."""

    def __init__(self, ctx: ControllerContext, panel: SummaryPanel, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.panel, self.show_error = ctx.document, panel, ctx.show_error
        document = ctx.document
        self._last_refresh = -1e9
        self._trailing = QTimer(self)
        self._trailing.setSingleShot(True)
        self._trailing.timeout.connect(self.update)
        document.countsChanged.connect(self.update_soon)

    def update_soon(self) -> None:
        """Refresh now, or (large slide, refreshed less than THROTTLE_MS ago) once that time is up."""
        if self._trailing.isActive():
            return
        wait_ms = THROTTLE_MS - (time.monotonic() - self._last_refresh) * 1000
        if len(self.document.results) < THROTTLE_FROM_IMAGES or wait_ms <= 0:
            self.update()
        else:
            self._trailing.start(int(wait_ms) + 1)

    def update(self) -> None:
        """Figures of the slide now open; if they cannot be computed the panel is cleared, never left
        showing the previous slide's figures beside this one's images (issue 13 item 2)."""
        self._trailing.stop()
        self._last_refresh = time.monotonic()
        try:
            self._update()
        except Exception as exc:  # noqa: BLE001 - shown, logged, and the stale figures removed
            self.panel.update_figures(None, None, target=self.document.session.settings.target_cells, edits=0)
            self.show_error("The slide's figures could not be computed", str(exc))

    def _update(self) -> None:
        results = self.document.results
        settings = self.document.session.settings
        target = settings.target_cells
        if not results:
            self.panel.update_figures(None, None, target=target, edits=0)
            self.panel.warnings.show_groups([])
            return
        rates = rates_from_model_info(self.document.session.model)  # the active model's error rates
        tally = review_tally(results, self.document.review, settings.count_edge_cells)
        auto = slide_figures(results, None, settings, rates)
        reviewed = slide_figures(results, self.document.review, settings, rates, tally.unconfirmed_share)
        groups = group_warnings(results)  # one line per kind of warning, not one per image (issue 20)
        self.panel.update_figures(auto, reviewed, target=target, edits=self.document.review.edits_count,
                                  quality=[], settings=settings, accepted=tally.accepted)
        self.panel.warnings.show_groups(groups)
        if not auto.flags and groups:
            self.panel.flags.setText("Image warnings (open a line for the images):")
