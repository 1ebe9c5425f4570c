"""The slide's figures in the right-hand panel, recomputed whenever the counts change.

On a large slide (``THROTTLE_FROM_IMAGES`` or more) the refresh runs at most every ``THROTTLE_MS``:
each one walks every image, and doing it after every result made adding 1,000 images superlinear
(issue 11 item 8). A change that arrives meanwhile is shown by one trailing refresh, never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer

from malaria_desktop.core.report.estimate import rates_from_model_info
from malaria_desktop.core.review.tally import review_tally
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.summary_panel import Figures, SummaryPanel, slide_figures
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
        self._auto_cache: tuple[list, tuple, Figures] | None = None
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

    def _automatic(self, results: Mapping[str, Any], settings: Any, rates: Any) -> Figures:
        """The automatic column, recomputed only when results or settings change: a P/U/N cannot change it,
        and the slide estimate in it costs ~80 ms per computation (issue 20: the stall of every label)."""
        items, key = list(results.items()), (settings, repr(rates))
        hit = self._auto_cache
        if hit is None or hit[1] != key or len(hit[0]) != len(items) or any(
                k != k2 or r is not r2 for (k, r), (k2, r2) in zip(hit[0], items, strict=True)):
            hit = self._auto_cache = (items, key, slide_figures(results, None, settings, rates))
        return hit[2]

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
        auto = self._automatic(results, settings, rates)
        reviewed = slide_figures(results, self.document.review, settings, rates, tally.unconfirmed_share)
        groups = group_warnings(results)  # one line per kind of warning, not one per image (issue 20)
        self.panel.update_figures(auto, reviewed, target=target, edits=self.document.review.edits_count,
                                  quality=[], settings=settings, accepted=tally.accepted)
        self.panel.warnings.show_groups(groups)
        if not auto.flags and groups:
            self.panel.flags.setText("Image warnings (open a line for the images):")
