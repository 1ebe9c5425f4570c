"""Review: label the selected cell, add a missed cell, undo/redo, walk the uncertain cells first.

The rules (what an edit means, how counts change, the uncertain-first walk) are ``core.review``'s; this
controller maps keys, clicks and menus onto it and asks the viewer to redraw the overlays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QPoint, Slot
from PySide6.QtWidgets import QMenu, QWidget

from malaria_desktop.core.review import ReviewChange, next_uncertain
from malaria_desktop.qt.actions import ActionId, Actions
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.overlays import LABEL_TEXT, NOT_CELL, PARASITIZED, UNINFECTED

ADDED_CELL_LABEL = UNINFECTED
LABEL_ACTIONS = (ActionId.MARK_PARASITIZED, ActionId.MARK_UNINFECTED, ActionId.MARK_NOT_CELL, ActionId.REVERT)
MENU_ACTIONS = (*LABEL_ACTIONS, ActionId.NEXT_UNCERTAIN, ActionId.ADD_CELL)
StatusFn = Callable[[str, int], None]


class Viewer(Protocol):
    current_key: str | None

    def show_image(self, key: str, force: bool = False) -> None: ...
    def select_key(self, key: str) -> None: ...
    def refresh_overlays(self) -> None: ...


class ReviewController(QObject):
    """Owns the review actions and the image view's cell signals."""

    def __init__(self, document: SlideDocument, viewer: Viewer, view: ImageView, actions: Actions, *,
                 status: StatusFn, menu_parent: QWidget | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.viewer = viewer
        self.view = view
        self.actions = actions
        self.status = status
        self.menu_parent = menu_parent
        a = actions
        a[ActionId.MARK_PARASITIZED].triggered.connect(lambda: self.label_selected(PARASITIZED))
        a[ActionId.MARK_UNINFECTED].triggered.connect(lambda: self.label_selected(UNINFECTED))
        a[ActionId.MARK_NOT_CELL].triggered.connect(lambda: self.label_selected(NOT_CELL))
        a[ActionId.REVERT].triggered.connect(lambda: self.label_selected(None))
        a[ActionId.UNDO].triggered.connect(self.undo)
        a[ActionId.REDO].triggered.connect(self.redo)
        a[ActionId.NEXT_UNCERTAIN].triggered.connect(self.goto_next_uncertain)
        a[ActionId.ADD_CELL].toggled.connect(view.set_add_mode)
        view.cellClicked.connect(self._cell_clicked)
        view.cellMenuRequested.connect(self._cell_menu)
        view.boxDrawn.connect(self.add_cell)
        document.reviewChanged.connect(self._review_changed)

    @Slot(int)
    def _cell_clicked(self, cell_id: int) -> None:
        if cell_id < 0:
            return
        item = next((i for i in self.view.overlay_items() if i.cell_id == cell_id), None)
        if item is not None:
            m = item.mark
            p = f", P(parasitized) {m.probability:.2f}" if m.probability is not None else ""
            self.status(f"Cell {cell_id}: {LABEL_TEXT.get(m.label, m.label)}{p}. Press P, U or N to change it.", 8000)
        self.update_actions()

    @Slot(int, QPoint)
    def _cell_menu(self, cell_id: int, global_pos: QPoint) -> None:
        menu = QMenu(self.menu_parent)
        menu.addActions([self.actions[i] for i in LABEL_ACTIONS])
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(global_pos)

    def label_selected(self, label: str | None) -> bool:
        """Apply a label to the selected cell of the current image (None: back to the model's verdict)."""
        key, cell_id = self.viewer.current_key, self.view.selected_cell
        if key is None or cell_id < 0:
            self.status("Click a cell first, then press P, U or N.", 5000)
            return False
        try:
            self.document.review.set_label(key, cell_id, label)  # type: ignore[arg-type]
        except (ValueError, KeyError) as exc:
            self.status(str(exc), 5000)
            return False
        return True

    @Slot(tuple)
    def add_cell(self, bbox: tuple[int, int, int, int]) -> int:
        """A box was drawn: add it as a cell (uninfected; press P to make it parasitized) and select it."""
        key = self.viewer.current_key
        result = self.document.result(key) if key else None
        if key is None or result is None or result.status != "ok":
            return -1
        cell_id = self.document.review.add_cell(key, bbox, ADDED_CELL_LABEL)
        self.view.select_cell(cell_id)
        self.actions[ActionId.ADD_CELL].setChecked(False)
        self.status(f"Added cell {cell_id} as uninfected. Press P if it is parasitized, Ctrl+Z to undo.", 8000)
        return cell_id

    def undo(self) -> None:
        if not self.document.review.undo():
            self.status("Nothing to undo.", 3000)

    def redo(self) -> None:
        if not self.document.review.redo():
            self.status("Nothing to redo.", 3000)

    def goto_next_uncertain(self) -> tuple[str, int] | None:
        """Select (and centre on) the next unreviewed cell closest to the threshold, across all images."""
        key_now = self.viewer.current_key
        current = (key_now, self.view.selected_cell) if key_now and self.view.selected_cell >= 0 else None
        target = next_uncertain(self.document.results, self.document.threshold, self.document.review, current)
        if target is None:
            self.status("Every cell has been reviewed.", 5000)
            return None
        key, cell_id = target
        if key != self.viewer.current_key:
            self.viewer.select_key(key)
            self.viewer.show_image(key)
        self.view.select_cell(cell_id, centre=True)
        self._cell_clicked(cell_id)
        return target

    @Slot(object)
    def _review_changed(self, change: ReviewChange) -> None:
        if change.kind in ("undo", "redo") and change.image_key != self.viewer.current_key \
                and self.document.entry(change.image_key) is not None:
            self.viewer.select_key(change.image_key)  # show where the undone edit was
            self.viewer.show_image(change.image_key)
        if change.image_key == self.viewer.current_key:
            if change.kind in ("undo", "redo") and change.cell_id >= 0:
                self.view.select_cell(change.cell_id)
            self.viewer.refresh_overlays()
        self.update_actions()

    def update_actions(self) -> None:
        review = self.document.review
        self.actions[ActionId.UNDO].setEnabled(review.can_undo)
        self.actions[ActionId.REDO].setEnabled(review.can_redo)
        has_results = any(r.status == "ok" for r in self.document.results.values())
        for action_id in (ActionId.NEXT_UNCERTAIN, ActionId.ADD_CELL, *LABEL_ACTIONS):
            self.actions[action_id].setEnabled(has_results)
