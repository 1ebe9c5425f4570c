"""Which image is on screen, and its overlays drawn from the document (results + review + view toggles)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.display_cache import DisplayCache
from malaria_desktop.qt.image_view import PLACEHOLDER, ImageView
from malaria_desktop.qt.missed_areas import MissedAreas
from malaria_desktop.qt.overlays import build_marks, filter_marks
from malaria_desktop.qt.plain_text import shown_name


class ImageController(QObject):
    """Owns ``current_key`` and the view actions (zoom, overlay toggles, next/previous image)."""

    overlaysDrawn = Signal(str)  # image key whose overlays were just drawn

    def __init__(self, ctx: ControllerContext, view: ImageView, *, select_key: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.document = document = ctx.document
        self.view = view
        self.actions = actions = ctx.actions
        self.select_key = select_key  # selects a row of the slide list, which then asks to show it
        self.current_key: str | None = None
        self._rows: dict[str, int] = {}  # each image's row at the last change of the list
        self._removed: tuple[str, int] | None = None  # the image last taken out while on screen, its row
        self._neighbour: str | None = None  # what was shown instead
        self.display = DisplayCache(parent=self)  # decoded fields, prefetched off the GUI thread
        self.missed = MissedAreas()  # "cells may be missed here" outlines of the image on screen
        a = actions
        a[ActionId.ZOOM_IN].triggered.connect(view.zoom_in)
        a[ActionId.ZOOM_OUT].triggered.connect(view.zoom_out)
        a[ActionId.FIT].triggered.connect(view.fit_to_window)
        a[ActionId.ACTUAL].triggered.connect(view.actual_size)
        for toggle in (ActionId.OVERLAYS, ActionId.PARASITIZED_ONLY, ActionId.UNCERTAIN_ONLY):
            a[toggle].triggered.connect(self.refresh_overlays)
        a[ActionId.NEXT_IMAGE].triggered.connect(lambda: self.step_image(1))
        a[ActionId.PREV_IMAGE].triggered.connect(lambda: self.step_image(-1))
        document.entriesReset.connect(self._entries_reset)

    def _band(self) -> tuple[float, float]:
        band = self.ctx.band()  # the model card's calibrated band, else threshold ± the margin
        return band.low, band.high

    @Slot(str)
    def show_image(self, key: str, force: bool = False) -> None:
        """Show one image with its overlays (pixels from the display cache; decoded now only on a miss)."""
        from malaria_desktop.core.errors import MalariaDesktopError

        same = key == self.current_key
        if same and not force and self.view.has_image():
            return
        self.current_key = key
        entry = self.document.entry(key)
        if entry is None or entry.state in ("error", "missing"):
            self.view.placeholder = f"{shown_name(Path(key).name)}\n\n{entry.error if entry else ''}"
            self.view.set_image(None)
            return
        try:  # outlines are drawn only on the very file they were found in (digest)
            image = self.display.load(key, self._digest(key))
        except (MalariaDesktopError, OSError, ValueError) as exc:
            self.view.placeholder = f"{shown_name(Path(key).name)}\n\n{exc}"
            self.view.set_image(None)
            return
        self.view.set_image(image, keep_view=same)
        self.refresh_overlays()
        self.prefetch_neighbours(key)

    def _digest(self, key: str) -> str:
        result = self.document.result(key)
        return result.content_sha256 if result is not None and result.status == "ok" else ""

    def prefetch(self, key: str) -> None:
        """Decode an image in the background before it is shown (the analysis is about to show it)."""
        self.display.prefetch(key)

    def prefetch_neighbours(self, key: str) -> None:
        """The images next to ``key`` in the list are the likely next ones (Ctrl+PgDown, F3)."""
        keys = [e.key for e in self.document.entries if e.state == "done"]
        if key in keys and len(keys) > 1:
            i = keys.index(key)
            for other in (keys[(i + 1) % len(keys)], keys[i - 1]):
                self.display.prefetch(other)

    def step_image(self, step: int) -> None:
        """Show the next (or previous) image of the list."""
        keys = [e.key for e in self.document.entries]
        if not keys:
            return
        row = keys.index(self.current_key) if self.current_key in keys else -step
        self.select_key(keys[(row + step) % len(keys)])

    def clear(self) -> None:
        """Nothing on screen (a new slide or another session)."""
        self.current_key = None
        self._removed = None
        self.missed.clear()
        self.display.forget()
        self.view.set_image(None)

    def refresh_overlays(self) -> None:
        """Redraw the current image's cells from the results + review state + toggles."""
        key = self.current_key
        result = self.document.result(key) if key else None
        if key is None or result is None or result.status != "ok" or not self.view.has_image():
            self.view.clear_marks()
            self.missed.clear()
            return
        review = self.document.review
        added = [(cid, cell.bbox, cell.label, cell.outline) for cid, cell in review.added_cells(key).items()]
        overrides = review.overrides(key)
        labels = {**overrides, **{cid: lab for cid, _b, lab, _o in added}}
        marks = build_marks(result, labels, labels.keys(), added, self.document.threshold,
                            self.ctx.settings.uncertain_margin, self._band())
        marks = filter_marks(marks, parasitized_only=self.actions[ActionId.PARASITIZED_ONLY].isChecked(),
                             uncertain_only=self.actions[ActionId.UNCERTAIN_ONLY].isChecked())
        self.view.set_marks(marks)
        self.view.set_overlays_visible(self.actions[ActionId.OVERLAYS].isChecked())
        self.missed.show(self.view.scene(), result.uncovered, self.actions[ActionId.OVERLAYS].isChecked())
        self.overlaysDrawn.emit(key)

    def _entries_reset(self) -> None:
        """An image left the slide (Remove image): show its neighbour; it came back (Undo): show it again."""
        keys = [e.key for e in self.document.entries]
        if self._removed is not None and self._removed[0] in keys and self.current_key in (None, self._neighbour):
            key, self._removed = self._removed[0], None
            self.select_key(key)
            self.show_image(key)
            return
        if self.current_key is not None and self.current_key not in keys:
            row = self._rows.get(self.current_key, 0)
            self._removed = (self.current_key, row)
            self.current_key = None
            self.view.placeholder = PLACEHOLDER
            self.view.set_image(None)
            self._neighbour = keys[min(row, len(keys) - 1)] if keys else None
            if self._neighbour is not None:
                self.select_key(self._neighbour)
                self.show_image(self._neighbour)
        self._rows = {key: row for row, key in enumerate(keys)}
