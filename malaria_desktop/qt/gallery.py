"""The review gallery: every cell of the slide as a thumbnail, one key per verdict.

Keys (the view has the focus): **P** parasitized, **U** uninfected, **N** not a cell, **Backspace** back to
the model's verdict — on all selected cells at once (Shift/Ctrl+click or Shift+arrows select several),
as one undo step, then the cursor moves on to the next cell. **A** accepts the model's verdict for the
selected cells *not reviewed yet* (correct the wrong calls first, then Shift+Home, A confirms the rest).
**Enter** or a double-click asks the window to show the cell in its image (``showCellRequested``). Edits go
through ``core.review.state`` like everywhere.
"""

from __future__ import annotations

from contextlib import nullcontext

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from malaria_desktop.core.results import PARASITIZED, UNINFECTED
from malaria_desktop.core.review.state import NOT_CELL
from malaria_desktop.qt.gallery_model import (
    FILTERS,
    QUEUE_FILTERS,
    THUMB_PX,
    CellGalleryModel,
    LabelRole,
    ReviewedRole,
    UncertainRole,
)
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.overlays import COLOURS, LABEL_TEXT

KEY_LABELS = {Qt.Key.Key_P: PARASITIZED, Qt.Key.Key_U: UNINFECTED, Qt.Key.Key_N: NOT_CELL}
SHORT = {PARASITIZED: "P", UNINFECTED: "U", NOT_CELL: "N"}
IMAGE_ONLY_KEYS = (Qt.Key.Key_S, Qt.Key.Key_M)  # the image's split/merge keys mean nothing here
ACCEPT = "accept"  # label_selection's "the model's verdict, for cells not reviewed yet"
CELL_W, CELL_H = THUMB_PX + 14, THUMB_PX + 30


class GalleryDelegate(QStyledItemDelegate):
    """Thumbnail framed in the verdict's colour; probability and verdict letter under it; a tick if reviewed."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return QSize(CELL_W, CELL_H)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        rect = option.rect
        pal = option.palette
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, pal.color(QPalette.ColorRole.Highlight))
        label = index.data(LabelRole)
        colour = COLOURS.get(label, COLOURS[NOT_CELL])
        thumb = QRect(rect.x() + 7, rect.y() + 5, THUMB_PX, THUMB_PX)
        image = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(image, QImage) and not image.isNull():
            painter.drawImage(thumb, image)
        else:
            painter.fillRect(thumb, QColor("#555555"))
        pen = QPen(colour, 4 if label == PARASITIZED else 3)
        if index.data(UncertainRole) and not index.data(ReviewedRole):
            pen.setStyle(Qt.PenStyle.DotLine)
        painter.setPen(pen)
        painter.drawRect(thumb.adjusted(1, 1, -2, -2))
        text_colour = pal.color(QPalette.ColorRole.HighlightedText if option.state & QStyle.StateFlag.State_Selected
                                else QPalette.ColorRole.Text)
        painter.setPen(text_colour)
        text_rect = QRect(rect.x(), thumb.bottom() + 2, rect.width(), rect.bottom() - thumb.bottom() - 2)
        reviewed = index.data(ReviewedRole)
        text = f"{index.data(Qt.ItemDataRole.DisplayRole)}  {SHORT.get(label, '?')}" + (" \u2713" if reviewed else "")
        font = painter.font()
        font.setBold(bool(reviewed))
        painter.setFont(font)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        if option.state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(QPen(pal.color(QPalette.ColorRole.Highlight).lighter(150), 2, Qt.PenStyle.DashLine))
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.restore()


class GalleryView(QListView):
    """Icon-mode list of cells; P/U/N/Backspace label the selection and move on, Enter shows the cell."""

    labelRequested = Signal(list, object)  # [(key, cell_id)], label or None
    showCellRequested = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(QSize(CELL_W + 4, CELL_H + 4))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setItemDelegate(GalleryDelegate(self))
        self.setWordWrap(False)
        self.doubleClicked.connect(self._show)

    def event(self, event: QEvent) -> bool:
        # the window's P/U/N/Backspace shortcuts act on the image's cell; here the keys mean the selection
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and \
                self._own_key(event):
            event.accept()
            return True
        return super().event(event)

    @staticmethod
    def _own_key(event: QKeyEvent) -> bool:
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        return plain and (event.key() in KEY_LABELS or event.key() in (
            Qt.Key.Key_Backspace, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_A, *IMAGE_ONLY_KEYS))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if self._own_key(event):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._show(self.currentIndex())
            elif event.key() == Qt.Key.Key_A:
                self.label_selection(ACCEPT)
            elif event.key() in IMAGE_ONLY_KEYS:
                pass  # split/merge act on the image's cells: never on a cell the technician does not see
            else:
                self.label_selection(KEY_LABELS.get(Qt.Key(event.key())))
            event.accept()
            return
        super().keyPressEvent(event)

    def selected_cells(self) -> list[tuple[str, int]]:
        model: CellGalleryModel = self.model()  # type: ignore[assignment]
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        if not rows and self.currentIndex().isValid():
            rows = [self.currentIndex().row()]
        return [(it.key, it.cell_id) for it in (model.item(r) for r in rows) if it is not None]

    def cells_on_screen(self) -> list[tuple[str, int]]:
        """Selected (or current) cells whose thumbnail is in the visible part of the gallery right now."""
        if not self.isVisible():
            return []
        model: CellGalleryModel = self.model()  # type: ignore[assignment]
        shown = self.viewport().rect()
        indexes = self.selectionModel().selectedIndexes() or [self.currentIndex()]
        items = (model.item(i.row()) for i in indexes if i.isValid() and self.visualRect(i).intersects(shown))
        return [(it.key, it.cell_id) for it in items if it is not None]

    def label_selection(self, label: str | None) -> int:
        """Ask for ``label`` on the selected cells, then move to the cell after the last one; returns how many."""
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes()) or \
            ([self.currentIndex().row()] if self.currentIndex().isValid() else [])
        cells = self.selected_cells()
        if not cells:
            return 0
        self.labelRequested.emit(cells, label)
        nxt = self.model().index(min(rows[-1] + 1, self.model().rowCount() - 1), 0)
        self.selectionModel().setCurrentIndex(nxt, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.scrollTo(nxt)
        return len(cells)

    def _show(self, index: QModelIndex) -> None:
        model: CellGalleryModel = self.model()  # type: ignore[assignment]
        item = model.item(index.row()) if index.isValid() else None
        if item is not None:
            self.showCellRequested.emit(item.key, item.cell_id)


class CellGallery(QWidget):
    """Filter bar + gallery view + a one-line key hint; labels go to the document's review state."""

    showCellRequested = Signal(str, int)
    labelled = Signal(int, object)  # how many cells, label (None = reverted)

    def __init__(self, document: SlideDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = document
        self.model = CellGalleryModel(document, self)
        self.view = GalleryView()
        self.view.setModel(self.model)
        self.filter_box = QComboBox()
        for name, text in FILTERS.items():
            self.filter_box.addItem(text, name)
        self.filter_box.setToolTip("Which cells to show")
        self.image_box = QComboBox()
        self.image_box.setToolTip("All images of the slide, or one")
        self.image_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.image_box.setMinimumContentsLength(12)
        self.count = QLabel()
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.filter_box)
        bar.addWidget(self.image_box, 1)
        bar.addWidget(self.count)
        self.hint = QLabel("<b>P</b> parasitized \u00b7 <b>U</b> uninfected \u00b7 <b>N</b> not a cell \u00b7 "
                           "<b>A</b> accept the model's call for the selected unreviewed cells \u00b7 "
                           "<b>Backspace</b> undecided \u00b7 Shift/Ctrl select several \u00b7 "
                           "<b>Enter</b> show in image")
        self.hint.setTextFormat(Qt.TextFormat.RichText)  # our own markup; the rest of the panel is plain
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.hint)
        self.filter_box.currentIndexChanged.connect(self._filter_changed)
        self.image_box.currentIndexChanged.connect(self._filter_changed)
        self.view.labelRequested.connect(self.apply_label)
        self.view.showCellRequested.connect(self.showCellRequested)
        self.model.rowsRebuilt.connect(self._update_count)
        document.countsChanged.connect(self._update_count)  # a queue's "N left" after each label
        self.labelled.connect(self._update_count)  # and after A made the cells on screen "seen"
        document.entriesReset.connect(self._refill_images)
        self._refill_images()

    def set_filter(self, name: str, image_key: str | None = None) -> None:
        """Choose the filter from code (menus, tests); the combo boxes follow."""
        self.filter_box.blockSignals(True)
        self.image_box.blockSignals(True)
        self.filter_box.setCurrentIndex(max(0, self.filter_box.findData(name)))
        self.image_box.setCurrentIndex(max(0, self.image_box.findData(image_key)))
        self.filter_box.blockSignals(False)
        self.image_box.blockSignals(False)
        self._filter_changed()

    def _filter_changed(self, *_args) -> None:
        self.model.set_filter(self.filter_box.currentData() or "all", self.image_box.currentData() or None)
        if self.model.rowCount():
            self.view.selectionModel().setCurrentIndex(self.model.index(0),
                                                       QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _refill_images(self) -> None:
        current = self.image_box.currentData()
        self.image_box.blockSignals(True)
        self.image_box.clear()
        self.image_box.addItem("All images", None)
        for entry in self._doc.entries:
            self.image_box.addItem(entry.path.name, entry.key)
        self.image_box.setCurrentIndex(max(0, self.image_box.findData(current)))
        self.image_box.blockSignals(False)

    def _update_count(self) -> None:
        n = self.model.rowCount()
        if self.model.filter in QUEUE_FILTERS:
            self.count.setText(f"{self.model.left():,} left of {n:,}")
        else:
            self.count.setText(f"{n:,} cell{'s' if n != 1 else ''}")

    def apply_label(self, cells: list[tuple[str, int]], label: str | None) -> int:
        """Label cells as one undo step (``None``: back to the model's verdict; drawn cells keep theirs)."""
        review = self._doc.review
        done = 0
        # A: a label given to cells the technician may not have seen; those on screen are made seen below
        with review.acceptance.unseen() if label == ACCEPT else nullcontext(), review.batch():
            for key, cell_id in cells:
                drawn = review.added_cells(key).get(cell_id) is not None
                if label is None and drawn:
                    continue
                if label == ACCEPT:  # confirm the model's call where the technician has not decided yet
                    result = self._doc.result(key)
                    auto = next((c.label for c in result.cells if c.cell.cell_id == cell_id), None) if result else None
                    if drawn or auto is None or review.is_edited(key, cell_id):
                        continue
                    review.set_label(key, cell_id, auto)
                else:
                    review.set_label(key, cell_id, label)  # type: ignore[arg-type]
                done += 1
        if label == ACCEPT:
            review.acceptance.mark_seen(self.view.cells_on_screen())
        self.labelled.emit(done, label)
        return done

    def focus_first(self, name: str | None = None) -> None:
        """Put the keyboard in the gallery (optionally switching filter) with the first cell current."""
        if name is not None and name != self.model.filter:
            self.set_filter(name, self.image_box.currentData())
        self.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if not self.view.currentIndex().isValid() and self.model.rowCount():
            self.view.selectionModel().setCurrentIndex(self.model.index(0),
                                                       QItemSelectionModel.SelectionFlag.ClearAndSelect)


def label_text(label: str | None) -> str:
    if label == ACCEPT:
        return "the model said (confirmed)"
    return "the model's verdict" if label is None else LABEL_TEXT.get(label, label).lower()


__all__ = ["CellGallery", "GalleryView", "GalleryDelegate", "label_text"]
