"""The slide's figures in the right-hand panel, recomputed whenever the counts change.

On a large slide (``THROTTLE_FROM_IMAGES`` or more) the refresh runs at most every ``THROTTLE_MS``:
each one walks every image, and doing it after every result made adding 1,000 images superlinear
(issue 11 item 8). A change that arrives meanwhile is shown by one trailing refresh, never dropped.

After a result or a key the counts, the verdict and the density show at once; the slide estimate's 95 %
interval and detection limit (~50 ms of NumPy per new count, up to 350 ms on a loaded 2-core PC: the
window's longest stall, issue 20) are computed in a worker thread and shown when ready ("being computed"
meanwhile). Only the newest request's interval is shown; an older one still on its way is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from malaria_desktop.core.report.estimate import rates_from_model_info
from malaria_desktop.core.review.tally import review_tally
from malaria_desktop.qt.background import background_pool
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.summary_panel import Figures, SummaryPanel, column_items, figures_of_items, slide_figures
from malaria_desktop.qt.warning_groups import group_warnings

THROTTLE_FROM_IMAGES = 200
THROTTLE_MS = 250


class SummaryController(QObject):
    """Automatic and reviewed figures, flags and image-quality notes of the open slide."""

    _delivered = Signal(int, object)  # request number, (automatic, reviewed) Figures or the exception

    def __init__(self, ctx: ControllerContext, panel: SummaryPanel, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.panel, self.show_error = ctx.document, panel, ctx.show_error
        document = ctx.document
        self._last_refresh = -1e9
        self._auto_cache: tuple[list, tuple, Figures, bool] | None = None  # ..., with its interval
        self._trailing = QTimer(self)
        self._trailing.setSingleShot(True)
        self._trailing.timeout.connect(self._refresh)
        self._request = 0  # the newest refresh; intervals computed for an older one are dropped
        self._in_flight = False
        self._queued: tuple | None = None  # the newest interval job waiting for the worker
        self._pool: ThreadPoolExecutor | None = None
        self._delivered.connect(self._on_delivered)
        document.countsChanged.connect(self.update_soon)

    @property
    def pending(self) -> bool:
        """An interval is being computed for the figures on screen."""
        return self._in_flight or self._queued is not None

    def update_soon(self) -> None:
        """Refresh now, or (large slide, refreshed less than THROTTLE_MS ago) once that time is up."""
        self._request += 1  # an interval on its way is for figures older than this change: never shown
        if self._trailing.isActive():
            return
        wait_ms = THROTTLE_MS - (time.monotonic() - self._last_refresh) * 1000
        if len(self.document.results) < THROTTLE_FROM_IMAGES or wait_ms <= 0:
            self._refresh()
        else:
            self._trailing.start(int(wait_ms) + 1)

    def update(self) -> None:
        """Figures of the slide now open; if they cannot be computed the panel is cleared, never left
        showing the previous slide's figures beside this one's images (issue 13 item 2)."""
        self._trailing.stop()
        self._last_refresh = time.monotonic()
        self._request += 1
        self._queued = None
        try:
            self._update()
        except Exception as exc:  # noqa: BLE001 - shown, logged, and the stale figures removed
            self._failed(exc)

    def _automatic(self, results: Mapping[str, Any], settings: Any, rates: Any, *,
                   interval: bool = True) -> tuple[Figures, list | None]:
        """The automatic column, recomputed only when results or settings change: a P/U/N cannot change it,
        and the slide estimate in it costs ~80 ms per computation (issue 20: the stall of every label).
        ``interval=False``: may return figures still without their interval, then with the items to finish."""
        items, key = list(results.items()), (settings, repr(rates))
        hit = self._auto_cache
        if hit is None or hit[1] != key or len(hit[0]) != len(items) or any(
                k != k2 or r is not r2 for (k, r), (k2, r2) in zip(hit[0], items, strict=True)):
            hit = None
        if hit is not None and (hit[3] or not interval):
            return hit[2], None if hit[3] else column_items(results, None, settings)  # the worker adds it
        column = column_items(results, None, settings)
        figures = figures_of_items(column, settings, rates, interval=interval)
        self._auto_cache = (items, key, figures, interval)
        return figures, None if interval else column

    def _update(self, interval: bool = True) -> None:
        """Both columns; ``interval=False``: without the slide estimate's interval, which the worker adds."""
        results, settings, review = self.document.results, self.document.session.settings, self.document.review
        rates = rates_from_model_info(self.document.session.model)  # the active model's error rates
        if not results:
            self._show(None, None, None)
            return
        tally = review_tally(results, review, settings.count_edge_cells)
        if interval or rates is None:  # nothing slow to move off the GUI thread without rates
            auto, _ = self._automatic(results, settings, rates)
            self._show(auto, slide_figures(results, review, settings, rates, tally.unconfirmed_share), tally)
            return
        auto, auto_items = self._automatic(results, settings, rates, interval=False)
        items = column_items(results, review, settings)
        self._show(auto, figures_of_items(items, settings, rates, tally.unconfirmed_share, interval=False), tally)
        job = (self._request, self._auto_cache, auto_items, items, settings, rates, tally)
        if self._in_flight:
            self._queued = job
        else:
            self._submit(job)

    def _show(self, auto: Figures | None, reviewed: Figures | None, tally: Any) -> None:
        target = self.document.session.settings.target_cells
        if auto is None:
            self.panel.update_figures(None, None, target=target, edits=0)
            self.panel.warnings.show_groups([])
            return
        groups = group_warnings(self.document.results)  # one line per kind of warning, not one per image (issue 20)
        self.panel.update_figures(auto, reviewed, target=target, edits=self.document.review.edits_count,
                                  quality=[], settings=self.document.session.settings, accepted=tally.accepted)
        self.panel.warnings.show_groups(groups)
        if not auto.flags and groups:
            self.panel.flags.setText("Image warnings (open a line for the images):")

    def _refresh(self) -> None:
        """The figures now, their interval in the worker thread (``update`` computes everything at once)."""
        self._trailing.stop()
        self._last_refresh = time.monotonic()
        self._request += 1
        try:
            self._update(interval=False)
        except Exception as exc:  # noqa: BLE001 - as in update: shown, logged, the stale figures removed
            self._failed(exc)

    def _submit(self, job: tuple) -> None:
        self._in_flight = True
        if self._pool is None:
            self._pool = background_pool("slide-estimate")  # below the GUI thread: it never waits on this
        self._pool.submit(self._work, job)

    def _work(self, job: tuple) -> None:
        """Worker thread: both columns with their intervals (pure NumPy on the frozen items of the job)."""
        request, _cache, auto_items, items, settings, rates, tally = job
        outcome: object
        try:
            auto = None if auto_items is None else figures_of_items(auto_items, settings, rates)
            outcome = (auto, figures_of_items(items, settings, rates, tally.unconfirmed_share))
        except Exception as exc:  # noqa: BLE001 - reported on the GUI thread
            outcome = exc
        try:
            self._delivered.emit(request, (job, outcome))
        except RuntimeError:  # the window closed meanwhile
            pass

    def _on_delivered(self, request: int, delivered: tuple) -> None:
        job, outcome = delivered
        self._in_flight = False
        cache: Any = job[1]
        if cache is not None and not isinstance(outcome, Exception):
            auto = outcome[0] or cache[2]
            if self._auto_cache is not None and cache is self._auto_cache:
                self._auto_cache = (cache[0], cache[1], auto, True)  # the same results: keep the interval
            if request == self._request:
                self._show(auto, outcome[1], job[6])
        elif request == self._request:
            self._failed(outcome if isinstance(outcome, Exception) else ValueError("no automatic figures"))
        if self._queued is not None:
            queued, self._queued = self._queued, None
            self._submit(queued)

    def _failed(self, exc: Exception) -> None:
        self.panel.update_figures(None, None, target=self.document.session.settings.target_cells, edits=0)
        self.show_error("The slide's figures could not be computed", str(exc))
