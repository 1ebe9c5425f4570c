"""The open slide as Qt models: ``SlideDocument`` (the core slide model + change signals) and ``SlideListModel``.

Why this shape: the slide's working state (queue, run states, one undo history, settings) is the headless
``core.slide.SlideModel``, driven the same way by the CLI and tests; the document here only turns its
notifications into Qt signals so the views (slide list, image view, summary) redraw from it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from malaria_desktop.core.review.state import ImageKey
from malaria_desktop.core.slide import STAGE_TEXT, ImageEntry, SlideEvent, SlideModel, State
from malaria_desktop.qt import theme
from malaria_desktop.qt.plain_text import plain_tooltip, shown_name

__all__ = ["STAGE_TEXT", "STATE_TEXT", "ImageEntry", "SlideDocument", "SlideListModel", "State", "pair_text"]

STATE_TEXT = {"queued": "Queued", "analysing": "Analysing\u2026", "done": "Done", "error": "Error",
              "missing": "File missing"}


class SlideDocument(QObject, SlideModel):
    """The core slide model as a QObject: every ``SlideEvent`` is re-emitted as the matching signal."""

    entriesReset = Signal()  # rows added/removed or a session was loaded
    entryChanged = Signal(int)  # one row's state/result changed
    reviewChanged = Signal(object)  # ReviewChange
    metadataChanged = Signal()
    countsChanged = Signal()  # results, review or settings changed: summaries must be recomputed
    modified = Signal()  # anything worth autosaving changed

    def __init__(self, parent: QObject | None = None) -> None:
        QObject.__init__(self, parent)
        SlideModel.__init__(self)
        self.subscribe(self._relay)

    def _relay(self, event: SlideEvent) -> None:
        if event.kind == "entry":
            self.entryChanged.emit(event.row)
        elif event.kind == "review":
            self.reviewChanged.emit(event.change)
        else:
            {"entries": self.entriesReset, "metadata": self.metadataChanged, "counts": self.countsChanged,
             "modified": self.modified}[event.kind].emit()


class SlideListModel(QAbstractTableModel):
    """Table of the slide's images: file, state (with the error reason), cells and parasitized."""

    HEADERS = ("Image", "State", "Cells", "Parasit.")
    HEADER_TIPS = ("Field image file", "Analysis state", "Red cells counted (automatic \u2192 reviewed)",
                   "Parasitized cells (automatic \u2192 reviewed)")

    def __init__(self, document: SlideDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._doc = document
        self._counts: dict[ImageKey, Any] = {}
        document.entriesReset.connect(self._reset)
        document.entryChanged.connect(self._row_changed)
        document.countsChanged.connect(self._refresh_counts)

    def _reset(self) -> None:
        self.beginResetModel()
        self._counts = self._doc.counts().per_image
        self.endResetModel()

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self._doc.entries):
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def _refresh_counts(self) -> None:
        self._counts = self._doc.counts().per_image
        if self._doc.entries:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self._doc.entries) - 1, 3))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._doc.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's own signature
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS[section]
        return None

    def key_at(self, row: int) -> ImageKey | None:
        return self._doc.entries[row].key if 0 <= row < len(self._doc.entries) else None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._doc.entries):
            return None
        entry = self._doc.entries[index.row()]
        col = index.column()
        counts = self._counts.get(entry.key)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return shown_name(entry.path.name)
            if col == 1:
                if entry.state == "analysing" and entry.detail:
                    return entry.detail
                if entry.state in ("error", "missing"):
                    return f"{STATE_TEXT[entry.state]} (see below)"  # the reason is listed under the table
                return STATE_TEXT[entry.state]
            if entry.state != "done" or counts is None:
                return ""
            if col == 2:
                return _pair(counts.auto_cells, counts.reviewed_cells, counts.edits)
            if col == 3:
                return _pair(counts.auto_parasitized, counts.reviewed_parasitized, counts.edits)
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{entry.path}\n{STATE_TEXT[entry.state]}"
            if entry.error:
                text += f": {entry.error}"
            result = self._doc.result(entry.key)
            if result is not None and result.warnings:
                text += "\nImage quality: " + "; ".join(result.warnings)
            return plain_tooltip(text)  # a file name must never be read as markup
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            meaning = {"error": "bad", "missing": "bad", "done": "good", "analysing": "info"}
            return QBrush(QColor(theme.colour(meaning.get(entry.state, "muted"))))
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return entry.key
        return None


HEADERS_MIN = ("", "", "Cells", "Parasit.")  # the narrowest a count column gets (its header)


def pair_text(auto: int, reviewed: int, edits: int) -> str:
    return _pair(auto, reviewed, edits)


def _pair(auto: int, reviewed: int, edits: int) -> str:
    """``"312"`` when unreviewed, ``"312 \u2192 309"`` (automatic -> reviewed) when edits changed it."""
    return f"{auto}" if edits == 0 or auto == reviewed else f"{auto} \u2192 {reviewed}"
