"""Review: label the selected cells, add a missed cell, split/merge clumps, remove an image, undo/redo,
step through the cells with the keyboard.

The rules (what an edit means, how counts change, the walks) are ``core.review.state``, ``core.review.walk`` and
``core.review.region_edit``'s; this controller maps keys, clicks and menus onto them and asks the viewer to
redraw the overlays. Undo/redo go through the document, whose one history also holds image removals.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, Slot
from PySide6.QtWidgets import QMenu

from malaria_desktop.core.review.region_edit import (
    RegionEditError,
    merge_regions,
    region_at,
    split_by_line,
    split_region,
)
from malaria_desktop.core.review.state import ReviewChange
from malaria_desktop.core.review.walk import reading_order, row_step, step_cell
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext, Viewer
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.overlays import LABEL_TEXT, NOT_CELL, PARASITIZED, UNINFECTED

ADDED_CELL_LABEL = UNINFECTED
LABEL_ACTIONS = (ActionId.MARK_PARASITIZED, ActionId.MARK_UNINFECTED, ActionId.MARK_NOT_CELL, ActionId.REVERT)
MENU_ACTIONS = (*LABEL_ACTIONS, ActionId.NEXT_UNCERTAIN, ActionId.ADD_CELL, None, ActionId.SPLIT_CELL,
                ActionId.SPLIT_CELL_3, ActionId.MERGE_CELLS)


class ReviewController(QObject):
    """Owns the review actions and the image view's cell signals."""

    def __init__(self, ctx: ControllerContext, viewer: Viewer, view: ImageView, *,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.document = document = ctx.document
        self.viewer = viewer
        self.view = view
        self.actions = a = ctx.actions
        self.status = ctx.status
        self.menu_parent = ctx.dialog_parent
        a[ActionId.MARK_PARASITIZED].triggered.connect(lambda: self.label_selected(PARASITIZED))
        a[ActionId.MARK_UNINFECTED].triggered.connect(lambda: self.label_selected(UNINFECTED))
        a[ActionId.MARK_NOT_CELL].triggered.connect(lambda: self.label_selected(NOT_CELL))
        a[ActionId.REVERT].triggered.connect(lambda: self.label_selected(None))
        a[ActionId.UNDO].triggered.connect(self.undo)
        a[ActionId.REDO].triggered.connect(self.redo)
        a[ActionId.ADD_CELL].toggled.connect(view.set_add_mode)
        a[ActionId.SPLIT_CELL].triggered.connect(lambda: self.split_selected(2))
        a[ActionId.SPLIT_CELL_3].triggered.connect(lambda: self.split_selected(3))
        a[ActionId.MERGE_CELLS].triggered.connect(self.merge_selected)
        a[ActionId.REMOVE_IMAGE].triggered.connect(self.remove_current_image)
        view.stepRequested.connect(self.step)
        if hasattr(view, "lineDrawn"):
            view.lineDrawn.connect(self.cut_along)
        view.cellClicked.connect(self._cell_clicked)
        view.cellMenuRequested.connect(self._cell_menu)
        view.boxDrawn.connect(self.add_cell)
        document.reviewChanged.connect(self._review_changed)

    @Slot(int)

    def band(self) -> tuple[float, float]:
        """The uncertain band in use (the model card's, else threshold ± the margin), as (low, high)."""
        band = self.ctx.band()
        return band.low, band.high
    def _cell_clicked(self, cell_id: int) -> None:
        if cell_id < 0:
            return
        self.describe_cell(cell_id)
        self.ctx.refresh_actions()

    def describe_cell(self, cell_id: int) -> None:
        """Status line for the selected cell: its place in reading order and its current verdict."""
        key = self.viewer.current_key
        result = self.document.result(key) if key else None
        item = next((i for i in self.view.overlay_items() if i.cell_id == cell_id), None)
        if item is None or key is None or result is None:
            return
        order = reading_order(key, result, self.document.review)
        where = f"Cell {order.index(cell_id) + 1} of {len(order)}" if cell_id in order else "Cell"
        m = item.mark
        p = f", P(parasitized) {m.probability:.2f}" if m.probability is not None else ", drawn by you"
        self.status(f"{where}: {LABEL_TEXT.get(m.label, m.label)}{p}. P, U or N changes it; arrows move.", 8000)

    @Slot(int, QPoint)
    def _cell_menu(self, cell_id: int, global_pos: QPoint) -> None:
        menu = QMenu(self.menu_parent)
        menu.addActions([self.actions[i] for i in LABEL_ACTIONS])
        menu.addSeparator()
        menu.addActions([self.actions[i] for i in (ActionId.SPLIT_CELL, ActionId.SPLIT_CELL_3, ActionId.MERGE_CELLS)])
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(global_pos)

    def label_selected(self, label: str | None) -> bool:
        """Label the selected cell(s) of the current image as one step (None: back to the model's verdict)."""
        key, cells = self.viewer.current_key, self.view.selected_cells
        if key is None or not cells:
            self.status("Click a cell first, then press P, U or N.", 5000)
            return False
        review = self.document.review
        try:
            with review.batch():
                for cell_id in cells:
                    if label is None and review.added_cells(key).get(cell_id) is not None:
                        continue  # a drawn cell has no model verdict to go back to
                    review.set_label(key, cell_id, label)  # type: ignore[arg-type]
        except (ValueError, KeyError) as exc:
            self.status(str(exc), 5000)
            return False
        return True

    def step(self, direction: str) -> int | None:
        """Arrow keys / Tab: select the next cell in reading order (or the row above/below)."""
        key = self.viewer.current_key
        result = self.document.result(key) if key else None
        if key is None or result is None or result.status != "ok":
            return None
        review, current = self.document.review, self.view.selected_cell
        if direction in ("up", "down"):
            target = row_step(key, result, review, current, -1 if direction == "up" else 1)
        else:
            target = step_cell(key, result, review, current, 1 if direction == "next" else -1)
        if target is not None:
            self.view.select_cell(target)
            self.view.reveal_cell(target)
            self._cell_clicked(target)
        return target

    def split_selected(self, n: int) -> list[int]:
        """Split the selected region into ``n`` cells (one undo step)."""
        key, cell_id = self.viewer.current_key, self.view.selected_cell
        result = self.document.result(key) if key else None
        if key is None or result is None or cell_id < 0:
            self.status("Click the clump first, then press S (two cells) or Shift+S (three).", 5000)
            return []
        try:
            ids = split_region(key, result, self.document.review, cell_id, n)
        except RegionEditError as exc:
            self.status(str(exc), 6000)
            return []
        self.view.select_cell(ids[0])
        self.status(f"Split into {n} cells (counted as uninfected: press P on an infected one). Ctrl+Z undoes.",
                    8000)
        return ids

    def cut_along(self, p0: tuple[float, float], p1: tuple[float, float]) -> list[int]:
        """Alt+drag across a clump: cut the cell under the line's middle along it (one undo step)."""
        key = self.viewer.current_key
        result = self.document.result(key) if key else None
        if key is None or result is None or result.status != "ok":
            return []
        mid = ((p0[0] + p1[0]) / 2.0, (p0[1] + p1[1]) / 2.0)
        cell_id = region_at(key, result, self.document.review, *mid)
        if cell_id is None:
            self.status("Draw the cut line across the middle of the clump (Alt+drag).", 5000)
            return []
        try:
            ids = split_by_line(key, result, self.document.review, cell_id, p0, p1)
        except RegionEditError as exc:
            self.status(str(exc), 6000)
            return []
        self.view.select_cell(ids[0])
        self.status(f"Cut into {len(ids)} cells (counted as uninfected: press P on an infected one). "
                    "Ctrl+Z undoes.", 8000)
        return ids

    def merge_selected(self) -> int:
        """Merge the selected cells (Ctrl+click to select several) into one (one undo step)."""
        key, cells = self.viewer.current_key, self.view.selected_cells
        result = self.document.result(key) if key else None
        if key is None or result is None or len(cells) < 2:
            self.status("Ctrl+click two or more cells, then press M to merge them.", 5000)
            return -1
        try:
            new_id = merge_regions(key, result, self.document.review, cells)
        except RegionEditError as exc:
            self.status(str(exc), 6000)
            return -1
        self.view.select_cell(new_id)
        self.status(f"Merged {len(cells)} cells into one. Ctrl+Z undoes.", 6000)
        return new_id

    def remove_current_image(self) -> bool:
        """Take the image on screen out of the slide (its cells leave the counts; Ctrl+Z puts it back)."""
        key = self.viewer.current_key
        entry = self.document.entry(key) if key else None
        if key is None or entry is None:
            self.status("Select an image in the list first.", 5000)
            return False
        self.document.remove_image(key)
        self.status(f"Removed {entry.path.name} from the slide. Ctrl+Z puts it back.", 8000)
        self.ctx.refresh_actions()
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
        self.status("Added a cell as uninfected. Press P if it is parasitized, Ctrl+Z to undo.", 8000)
        return cell_id

    def undo(self) -> None:
        if self.document.undo() is None:
            self.status("Nothing to undo.", 3000)
        self.ctx.refresh_actions()

    def redo(self) -> None:
        if self.document.redo() is None:
            self.status("Nothing to redo.", 3000)
        self.ctx.refresh_actions()

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
            if self.view.selected_cell >= 0:
                self.describe_cell(self.view.selected_cell)  # the status line shows the new verdict
        self.ctx.refresh_actions()
