"""The open slide as Qt models: ``SlideDocument`` (state + change signals) and ``SlideListModel`` (table).

The document wraps one core ``Session`` (metadata, image paths, automatic results, review edits, settings)
and adds only what is transient in the GUI: each image's run state (queued / analysing / done / error /
missing) and progress text. Every change goes through a method here that emits a signal, so the views
(slide list, image view, summary) redraw from the document and tests can drive the document directly.

Undo/redo go through the document (``undo``/``redo``): one history holds the review's steps and the
removal of images from the slide, so Ctrl+Z undoes whichever came last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from malaria_desktop.core.results import ImageResult, Progress
from malaria_desktop.core.review.session import (
    Session,
    SessionMetadata,
    default_settings,
    missing_images,
    summary_options,
)
from malaria_desktop.core.review.state import ImageKey, ReviewChange, ReviewState, apply_threshold, image_key
from malaria_desktop.core.settings import ReportSettings
from malaria_desktop.qt import theme
from malaria_desktop.qt.count_cache import CountCache
from malaria_desktop.qt.plain_text import plain_tooltip, shown_name

State = Literal["queued", "analysing", "done", "error", "missing"]
STATE_TEXT = {"queued": "Queued", "analysing": "Analysing\u2026", "done": "Done", "error": "Error",
              "missing": "File missing"}
STAGE_TEXT = {"loading": "Loading\u2026", "segmenting": "Segmenting\u2026", "classifying": "Classifying\u2026",
              "done": "Done"}


REVIEW_STEP = "review"  # a history entry that is one step of the ReviewState's own undo stack
MAX_HISTORY = 10_000


@dataclass
class ImageEntry:
    """One image of the slide as the GUI shows it."""

    path: Path
    state: State = "queued"
    error: str = ""
    detail: str = ""  # progress text while analysing

    @property
    def key(self) -> ImageKey:
        return image_key(self.path)


@dataclass(frozen=True)
class RemovedImage:
    """An image taken out of the slide, with what is needed to put it back where it was."""

    row: int
    entry: ImageEntry
    path_index: int
    result: ImageResult | None


class SlideDocument(QObject):
    """The open slide: a core Session plus per-image run state; emits a signal for every change."""

    entriesReset = Signal()  # rows added/removed or a session was loaded
    entryChanged = Signal(int)  # one row's state/result changed
    reviewChanged = Signal(object)  # ReviewChange
    metadataChanged = Signal()
    countsChanged = Signal()  # results, review or settings changed: summaries must be recomputed
    modified = Signal()  # anything worth autosaving changed

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = Session()
        self.entries: list[ImageEntry] = []
        self._row_index: dict[ImageKey, int] = {}  # progress events look rows up thousands of times
        self._history: list[object] = []  # REVIEW_STEP or RemovedImage, oldest first
        self._future: list[object] = []
        self._removed_keys: set[ImageKey] = set()
        self._count_cache = CountCache()  # one edit recounts one image
        self.session_path: Path | None = None
        self._unsubscribe = self.session.review.subscribe(self._on_review)

    # --- queries -----------------------------------------------------------------------------------
    @property
    def review(self) -> ReviewState:
        return self.session.review

    @property
    def results(self) -> dict[ImageKey, ImageResult]:
        return self.session.results

    @property
    def metadata(self) -> SessionMetadata:
        return self.session.metadata

    @property
    def threshold(self) -> float:
        return float(self.session.settings.get("threshold", 0.5))

    def row_of(self, key: ImageKey) -> int:
        """The row of an image (-1: not in the slide); an index checked against the list, not a scan."""
        row = self._row_index.get(key)
        if row is not None and row < len(self.entries) and self.entries[row].key == key:
            return row
        self._row_index = {entry.key: i for i, entry in enumerate(self.entries)}  # the list changed
        return self._row_index.get(key, -1)

    def entry(self, key: ImageKey) -> ImageEntry | None:
        row = self.row_of(key)
        return self.entries[row] if row >= 0 else None

    def result(self, key: ImageKey) -> ImageResult | None:
        return self.session.results.get(key)

    def pending_paths(self) -> list[Path]:
        """Images still to analyse (queued or interrupted while analysing)."""
        return [e.path for e in self.entries if e.state in ("queued", "analysing")]

    def is_empty(self) -> bool:
        return not self.entries

    def counts(self):
        """Automatic and reviewed counts per image and in total (core.review.state.reviewed_counts)."""
        edges = summary_options(self.session.settings)["count_edge_cells"]  # same rule as the summary panel
        return self._count_cache.counts(self.session.results, self.session.review, edges)

    # --- images and results ------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> list[Path]:
        """Queue new images (already expanded to files); returns those that were not in the slide yet."""
        known = {e.key for e in self.entries}
        new = []
        for path in paths:
            path = Path(path)
            if image_key(path) in known:
                continue
            known.add(image_key(path))
            self.entries.append(ImageEntry(path))
            self.session.image_paths.append(path)
            new.append(path)
        if new:
            self.entriesReset.emit()
            self.modified.emit()
        return new

    def mark_progress(self, progress: Progress) -> None:
        row = self.row_of(image_key(progress.path))
        if row < 0:
            return
        entry = self.entries[row]
        if entry.state in ("done", "error"):
            return
        entry.state = "analysing"
        entry.detail = STAGE_TEXT.get(progress.stage, progress.stage)  # cell counts are in the progress bar
        self.entryChanged.emit(row)

    def set_result(self, result: ImageResult) -> None:
        """Store an engine result (automatic verdicts at the slide's threshold)."""
        if result.status == "ok" and abs(result.threshold - self.threshold) > 1e-9:
            result = apply_threshold(result, self.threshold)
        key = image_key(result.path)
        if key in self._removed_keys and self.row_of(key) < 0:
            return  # the technician removed this image while it was being analysed
        self.session.set_result(result)
        row = self.row_of(key)
        if row < 0:
            self.entries.append(ImageEntry(Path(result.path)))
            row = len(self.entries) - 1
            self.entriesReset.emit()
        entry = self.entries[row]
        entry.state = "done" if result.status == "ok" else "error"
        entry.error = result.error
        entry.detail = ""
        self.entryChanged.emit(row)
        self.countsChanged.emit()
        self.modified.emit()

    def remove_image(self, key: ImageKey) -> bool:
        """Take an image (and its cells) out of the slide; undoable. False when it is not in the slide."""
        row = self.row_of(key)
        if row < 0:
            return False
        entry = self.entries.pop(row)
        index = next((i for i, p in enumerate(self.session.image_paths) if image_key(p) == key), -1)
        if index >= 0:
            self.session.image_paths.pop(index)
        record = RemovedImage(row, entry, index, self.session.results.pop(key, None))
        self._removed_keys.add(key)
        self._push(record)
        self._entries_changed()
        return True

    def _restore(self, record: RemovedImage) -> None:
        key = record.entry.key
        self.entries.insert(min(record.row, len(self.entries)), record.entry)
        if record.path_index >= 0:
            self.session.image_paths.insert(min(record.path_index, len(self.session.image_paths)),
                                            record.entry.path)
        if record.result is not None:
            self.session.results[key] = record.result
        self._removed_keys.discard(key)
        self._entries_changed()

    def _entries_changed(self) -> None:
        self.entriesReset.emit()
        self.countsChanged.emit()
        self.modified.emit()

    # --- one undo history for review edits and image removals ---------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def _push(self, step: object) -> None:
        self._history.append(step)
        del self._history[:-MAX_HISTORY]
        self._future.clear()

    def undo(self) -> object | None:
        """Undo the last review step or image removal; returns what was undone (None: nothing)."""
        while self._history:
            step = self._history.pop()
            if step == REVIEW_STEP and not self.session.review.undo():
                continue  # that image's edits were forgotten (re-analysed): nothing left to undo there
            if step != REVIEW_STEP:
                self._restore(step)  # type: ignore[arg-type]
            self._future.append(step)
            return step
        return None

    def redo(self) -> object | None:
        """Redo the last undone step; returns it (None: nothing to redo)."""
        while self._future:
            step = self._future.pop()
            if step == REVIEW_STEP and not self.session.review.redo():
                continue
            if step != REVIEW_STEP:
                self._remove_again(step)  # type: ignore[arg-type]
            self._history.append(step)
            return step
        return None

    def _remove_again(self, record: RemovedImage) -> None:
        key = record.entry.key
        row = self.row_of(key)
        if row >= 0:
            self.entries.pop(row)
        self.session.image_paths = [p for p in self.session.image_paths if image_key(p) != key]
        self.session.results.pop(key, None)
        self._removed_keys.add(key)
        self._entries_changed()

    def requeue_interrupted(self) -> None:
        """After a cancel: images caught mid-analysis go back to queued."""
        for row, entry in enumerate(self.entries):
            if entry.state == "analysing":
                entry.state, entry.detail = "queued", ""
                self.entryChanged.emit(row)

    def remove_pending(self) -> int:
        """Drop images that were never analysed (the technician cancelled the run)."""
        keep = [e for e in self.entries if e.state not in ("queued", "analysing")]
        removed = len(self.entries) - len(keep)
        if removed:
            keys = {e.key for e in keep}
            self.entries = keep
            self.session.image_paths = [p for p in self.session.image_paths if image_key(p) in keys]
            self.entriesReset.emit()
            self.modified.emit()
        return removed

    # --- settings ----------------------------------------------------------------------------------
    def set_threshold(self, threshold: float) -> None:
        """New decision threshold: automatic verdicts are recomputed from the stored probabilities."""
        if abs(threshold - self.threshold) < 1e-12:
            return
        self.session.settings = self.session.settings.replace(threshold=float(threshold))
        for key, result in list(self.session.results.items()):
            self.session.results[key] = apply_threshold(result, threshold)
        for row in range(len(self.entries)):
            self.entryChanged.emit(row)
        self.countsChanged.emit()
        self.modified.emit()

    def set_settings(self, **values: Any) -> None:
        """Validated (``ReportSettings.replace`` raises SettingsError for an impossible value)."""
        self.session.settings = self.session.settings.replace(**values)
        self.countsChanged.emit()
        self.modified.emit()

    def set_metadata(self, metadata: SessionMetadata) -> None:
        if metadata == self.session.metadata:
            return
        self.session.metadata = replace(metadata)
        self.metadataChanged.emit()
        self.modified.emit()

    # --- whole session -----------------------------------------------------------------------------
    def new_session(self, settings: Mapping[str, Any] | None = None, model: dict[str, Any] | None = None) -> None:
        session = Session(settings=ReportSettings.from_mapping(settings) if settings else default_settings(),
                          model=dict(model or {}))
        self.load(session, None)

    def load(self, session: Session, path: Path | None) -> list[Path]:
        """Show a (loaded) session; returns the images whose files are missing."""
        self._unsubscribe()
        self.session = session
        self.session_path = path
        session.review.clear_history()
        self._history.clear()
        self._future.clear()
        self._removed_keys.clear()
        self._unsubscribe = session.review.subscribe(self._on_review)
        missing = {image_key(p) for p in missing_images(session)}
        self.entries = []
        for p in session.image_paths:
            key = image_key(p)
            result = session.results.get(key)
            if key in missing:
                entry = ImageEntry(Path(p), "missing", "The image file is no longer at this path.")
            elif result is None:
                entry = ImageEntry(Path(p))
            else:
                entry = ImageEntry(Path(p), "done" if result.status == "ok" else "error", result.error)
            self.entries.append(entry)
        self.entriesReset.emit()
        self.metadataChanged.emit()
        self.countsChanged.emit()
        return [e.path for e in self.entries if e.state == "missing"]

    def _on_review(self, change: ReviewChange) -> None:
        if change.kind == "edit":
            self._push(REVIEW_STEP)
        row = self.row_of(change.image_key)
        if row >= 0:
            self.entryChanged.emit(row)
        self.reviewChanged.emit(change)
        self.countsChanged.emit()
        self.modified.emit()


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
