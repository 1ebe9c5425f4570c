"""The cell gallery dock: show it, keep its uncertain band current, jump from a thumbnail to the cell."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDockWidget

from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.controllers.review import ReviewController
from malaria_desktop.qt.gallery import CellGallery, label_text


class GalleryController(QObject):
    """Owns the Gallery actions and the gallery's requests (show a cell, cells labelled)."""

    def __init__(self, ctx: ControllerContext, gallery: CellGallery, dock: QDockWidget, review: ReviewController, *,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.gallery, self.dock = ctx.document, gallery, dock
        self.viewer, self.view, self.band = review.viewer, review.view, ctx.band  # the review's image on screen
        self.describe_cell = review.describe_cell  # the review controller's status-line description
        self.status = ctx.status
        actions, document = ctx.actions, ctx.document
        actions[ActionId.GALLERY].triggered.connect(lambda: self.show_gallery(None))
        actions[ActionId.REVIEW_PARASITIZED].triggered.connect(lambda: self.show_gallery("confirm"))
        actions[ActionId.REVIEW_UNCERTAIN].triggered.connect(lambda: self.show_gallery("uncertain"))
        gallery.showCellRequested.connect(self.show_cell)
        gallery.labelled.connect(self._labelled)
        document.countsChanged.connect(self.update_band)

    def update_band(self) -> None:
        band = self.band()
        if (band.low, band.high) != self.gallery.model.band:
            self.gallery.model.set_band(band.low, band.high)

    def show_gallery(self, filter_name: str | None) -> None:
        """Show the gallery dock and put the keyboard in it (optionally with a filter)."""
        self.dock.show()
        self.dock.raise_()
        self.gallery.focus_first(filter_name)

    @Slot(str, int)
    def show_cell(self, key: str, cell_id: int) -> None:
        """Show a cell in its image (gallery double-click / Enter)."""
        if key != self.viewer.current_key:
            self.viewer.select_key(key)
            self.viewer.show_image(key)
        self.view.select_cell(cell_id, centre=True)
        self.describe_cell(cell_id)

    def _labelled(self, n: int, label: str | None) -> None:
        self.status(f"{n} cell{'s' if n != 1 else ''} marked as {label_text(label)}. Ctrl+Z undoes.", 5000)
