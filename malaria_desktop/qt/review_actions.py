"""Review glue for the main window: label the selected cell, add a missed cell, undo/redo, next uncertain.

The rules (what an edit means, how counts change, the uncertain-first walk) are ``core.review``'s; this
mixin maps keys, clicks and menus onto it and redraws the overlays from the document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from malaria_desktop.core.review import ReviewChange, next_uncertain
from malaria_desktop.qt.overlays import LABEL_TEXT, NOT_CELL, PARASITIZED, UNINFECTED, build_marks, filter_marks

if TYPE_CHECKING:
    from malaria_desktop.qt.main_window import MainWindow

ADDED_CELL_LABEL = UNINFECTED


class ReviewMixin:
    """Mixed into MainWindow (needs ``document``, ``view``, ``settings``, ``current_key`` and ``_action``)."""

    def build_review_actions(self: "MainWindow") -> None:
        K = QKeySequence.StandardKey
        a = self._action
        self.act_mark_parasitized = a("Mark as &Parasitized", lambda: self.label_selected(PARASITIZED), "P")
        self.act_mark_uninfected = a("Mark as &Uninfected", lambda: self.label_selected(UNINFECTED), "U")
        self.act_mark_not_cell = a("Mark as &Not a Cell", lambda: self.label_selected(NOT_CELL), "N")
        self.act_revert = a("&Revert to Model's Verdict", lambda: self.label_selected(None), "Backspace")
        self.act_undo = a("&Undo", self.undo, K.Undo)
        self.act_redo = a("&Redo", self.redo, K.Redo)
        self.act_next_uncertain = a("Next Uncertain Cell", self.goto_next_uncertain, [K.FindNext, "Space"],
                                    tip="Walk the cells closest to the threshold first (F3)")
        self.act_add_cell = a("Add Missed Cell", lambda: None, "A", checkable=True,
                              tip="Draw a box around a cell the program missed (or Shift+drag at any time)")
        self.act_add_cell.toggled.connect(self.view.set_add_mode)

    def review_menu_actions(self: "MainWindow") -> list[QAction]:
        return [self.act_mark_parasitized, self.act_mark_uninfected, self.act_mark_not_cell, self.act_revert,
                self.act_next_uncertain, self.act_add_cell]

    def connect_review(self: "MainWindow") -> None:
        self.view.cellClicked.connect(self._cell_clicked)
        self.view.cellMenuRequested.connect(self._cell_menu)
        self.view.boxDrawn.connect(self.add_cell)
        self.document.reviewChanged.connect(self._review_changed)

    # ------------------------------------------------------------------ drawing
    def refresh_overlays(self: "MainWindow") -> None:
        """Redraw the current image's cells from the results + review state + toggles."""
        key = self.current_key
        result = self.document.result(key) if key else None
        if result is None or result.status != "ok" or not self.view.has_image():
            self.view.clear_marks()
            return
        review = self.document.review
        added = [(cid, cell.bbox, cell.label) for cid, cell in review.added_cells(key).items()]
        overrides = review.overrides(key)
        labels = {**overrides, **{cid: lab for cid, _b, lab in added}}
        marks = build_marks(result, labels, labels.keys(), added, self.document.threshold,
                            self.settings.uncertain_margin)
        marks = filter_marks(marks, parasitized_only=self.act_parasitized_only.isChecked(),
                             uncertain_only=self.act_uncertain_only.isChecked())
        self.view.set_marks(marks)
        self.view.set_overlays_visible(self.act_overlays.isChecked())
        self.overlaysDrawn.emit(key)

    # ------------------------------------------------------------------ editing
    @Slot(int)
    def _cell_clicked(self: "MainWindow", cell_id: int) -> None:
        if cell_id < 0:
            return
        item = next((i for i in self.view.overlay_items() if i.cell_id == cell_id), None)
        if item is not None:
            m = item.mark
            p = f", P(parasitized) {m.probability:.2f}" if m.probability is not None else ""
            self.statusBar().showMessage(
                f"Cell {cell_id}: {LABEL_TEXT.get(m.label, m.label)}{p}. Press P, U or N to change it.", 8000)
        self.update_review_actions()

    @Slot(int, QPoint)
    def _cell_menu(self: "MainWindow", cell_id: int, global_pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addActions([self.act_mark_parasitized, self.act_mark_uninfected, self.act_mark_not_cell,
                         self.act_revert])
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(global_pos)

    def label_selected(self: "MainWindow", label: str | None) -> bool:
        """Apply a label to the selected cell of the current image (None: back to the model's verdict)."""
        key, cell_id = self.current_key, self.view.selected_cell
        if key is None or cell_id < 0:
            self.statusBar().showMessage("Click a cell first, then press P, U or N.", 5000)
            return False
        try:
            self.document.review.set_label(key, cell_id, label)  # type: ignore[arg-type]
        except (ValueError, KeyError) as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return False
        return True

    @Slot(tuple)
    def add_cell(self: "MainWindow", bbox: tuple[int, int, int, int]) -> int:
        """A box was drawn: add it as a cell (uninfected; press P to make it parasitized) and select it."""
        key = self.current_key
        result = self.document.result(key) if key else None
        if result is None or result.status != "ok":
            return -1
        cell_id = self.document.review.add_cell(key, bbox, ADDED_CELL_LABEL)
        self.view.select_cell(cell_id)
        self.act_add_cell.setChecked(False)
        self.statusBar().showMessage(f"Added cell {cell_id} as uninfected. Press P if it is parasitized, "
                                     "Ctrl+Z to undo.", 8000)
        return cell_id

    def undo(self: "MainWindow") -> None:
        if not self.document.review.undo():
            self.statusBar().showMessage("Nothing to undo.", 3000)

    def redo(self: "MainWindow") -> None:
        if not self.document.review.redo():
            self.statusBar().showMessage("Nothing to redo.", 3000)

    def goto_next_uncertain(self: "MainWindow") -> tuple[str, int] | None:
        """Select (and centre on) the next unreviewed cell closest to the threshold, across all images."""
        current = (self.current_key, self.view.selected_cell) if self.current_key and self.view.selected_cell >= 0 \
            else None
        target = next_uncertain(self.document.results, self.document.threshold, self.document.review, current)
        if target is None:
            self.statusBar().showMessage("Every cell has been reviewed.", 5000)
            return None
        key, cell_id = target
        if key != self.current_key:
            self.slide_panel.list.select_key(key)
            self.show_image(key)
        self.view.select_cell(cell_id, centre=True)
        self._cell_clicked(cell_id)
        return target

    @Slot(object)
    def _review_changed(self: "MainWindow", change: ReviewChange) -> None:
        if change.kind in ("undo", "redo") and change.image_key != self.current_key \
                and self.document.entry(change.image_key) is not None:
            self.slide_panel.list.select_key(change.image_key)  # show where the undone edit was
            self.show_image(change.image_key)
        if change.image_key == self.current_key:
            if change.kind in ("undo", "redo") and change.cell_id >= 0:
                self.view.select_cell(change.cell_id)
            self.refresh_overlays()
        self.update_review_actions()

    def update_review_actions(self: "MainWindow") -> None:
        review = self.document.review
        self.act_undo.setEnabled(review.can_undo)
        self.act_redo.setEnabled(review.can_redo)
        has_results = any(r.status == "ok" for r in self.document.results.values())
        for act in (self.act_next_uncertain, self.act_add_cell, self.act_mark_parasitized, self.act_mark_uninfected,
                    self.act_mark_not_cell, self.act_revert):
            act.setEnabled(has_results)
