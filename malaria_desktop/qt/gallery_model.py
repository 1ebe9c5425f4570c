"""The slide's cells as a flat Qt list model for the review gallery, with lazily built thumbnails.

Why a model and not widgets: a slide has 5,000+ cells; ``QListView`` asks only for the rows on screen,
and thumbnails are cut in a background thread one image at a time (one decode serves all of that image's
cells) and kept in a small LRU cache. Rows are sorted by P(parasitized), highest first; filters choose
parasitized / uncertain / reviewed / not reviewed cells and one image or all.

Labels are never stored here: ``data`` reads the document's review state, so a P/U/N from any view shows
at once. Rows are rebuilt only when results or the filter change, so the list does not jump under the
technician's eyes while they review.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QImage

from malaria_desktop.core.report.thumbnails import analysed_image, image_thumbnails
from malaria_desktop.core.results import PARASITIZED
from malaria_desktop.core.review.queues import decided, queue_of
from malaria_desktop.core.review.state import NOT_CELL, ImageKey
from malaria_desktop.qt.background import background_pool
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.plain_text import plain_tooltip, shown_name

GalleryFilter = Literal["all", "confirm", "uncertain", "parasitized", "reviewed", "not_reviewed"]
# "confirm" and "uncertain" are the review queues (core.review.queues): the cells still to decide when
# the rows were built; they stay listed while the technician labels them, so the list does not jump
FILTERS: dict[str, str] = {"all": "All cells", "confirm": "Likely parasitized \u2013 confirm",
                           "uncertain": "Uncertain \u2013 to review", "parasitized": "Parasitized (all calls)",
                           "reviewed": "Reviewed", "not_reviewed": "Not reviewed"}
QUEUE_FILTERS = ("confirm", "uncertain")
THUMB_PX = 72
REBUILD_DELAY_MS = 400
CACHE_IMAGES = 48  # images whose thumbnails are kept (about 200 KB per 100 cells)

KeyRole = Qt.ItemDataRole.UserRole + 1
CellIdRole = Qt.ItemDataRole.UserRole + 2
LabelRole = Qt.ItemDataRole.UserRole + 3
ReviewedRole = Qt.ItemDataRole.UserRole + 4
ProbabilityRole = Qt.ItemDataRole.UserRole + 5
UncertainRole = Qt.ItemDataRole.UserRole + 6


@dataclass(frozen=True)
class GalleryItem:
    """One cell of the gallery (segmented or added by the technician)."""

    key: ImageKey
    cell_id: int
    probability: float  # NaN for cells the technician drew
    auto_label: str | None  # None for added cells
    bbox: tuple[int, int, int, int]


def _order(item: GalleryItem) -> tuple:
    """Highest probability first; drawn cells (no probability) last; ties by image and cell."""
    p = item.probability
    return (-(p if not math.isnan(p) else -1.0), item.key, item.cell_id)


class ThumbnailCache(QObject):
    """Per-image thumbnails cut in one background thread; ``ready(key)`` when an image's set arrives."""

    ready = Signal(str)
    _delivered = Signal(str, object)

    def __init__(self, size: int = THUMB_PX, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._images: OrderedDict[ImageKey, dict[int, QImage]] = OrderedDict()
        self._pending: set[ImageKey] = set()
        self._lock = threading.Lock()
        self._pool = background_pool("thumbnails")  # below the GUI thread (issue 20)
        self._delivered.connect(self._store)
        # the analysed file's (hash, size) by key: thumbnails are cut from that file only (issue 24)
        self.expected: Callable[[ImageKey], tuple[str, tuple[int, int]]] = lambda _key: ("", (0, 0))

    def get(self, item: GalleryItem, boxes: list[tuple[int, tuple[int, int, int, int]]]) -> QImage | None:
        """The thumbnail if cut already; otherwise queue the item's whole image and return None."""
        cached = self._images.get(item.key)
        if cached is not None:
            self._images.move_to_end(item.key)
            image = cached.get(item.cell_id)
            if image is not None:
                return image
        with self._lock:
            if item.key in self._pending:
                return None
            self._pending.add(item.key)
        self._pool.submit(self._cut, item.key, boxes, *self.expected(item.key))
        return None

    def _cut(self, key: ImageKey, boxes: list[tuple[int, tuple[int, int, int, int]]], sha256: str = "",
             shape: tuple[int, int] = (0, 0)) -> None:
        try:
            rgb = analysed_image(Path(key), sha256, shape)  # a replaced file: placeholders, not other cells
            thumbs = {cid: _qimage(t) for cid, t in image_thumbnails(rgb, boxes, self.size).items()}
        except Exception:  # noqa: BLE001 - a vanished/broken file shows placeholders, never an error box
            thumbs = {cid: QImage() for cid, _ in boxes}
        try:
            self._delivered.emit(key, thumbs)
        except RuntimeError:  # the gallery was closed while this image was cut
            pass

    def _store(self, key: str, thumbs: dict[int, QImage]) -> None:
        with self._lock:
            self._pending.discard(key)
        self._images.setdefault(key, {}).update(thumbs)
        self._images.move_to_end(key)
        while len(self._images) > CACHE_IMAGES:
            self._images.popitem(last=False)
        self.ready.emit(key)

    def forget(self, key: ImageKey | None = None) -> None:
        """Drop one image's thumbnails (or all): the cells changed or the slide was closed."""
        if key is None:
            self._images.clear()
        else:
            self._images.pop(key, None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _qimage(rgb) -> QImage:
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class CellGalleryModel(QAbstractListModel):
    """Rows = cells of the slide (filtered, sorted by probability); data reads the live review state."""

    rowsRebuilt = Signal()

    def __init__(self, document: SlideDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._doc = document
        self._items: list[GalleryItem] = []
        self._boxes: dict[ImageKey, list[tuple[int, tuple[int, int, int, int]]]] = {}
        self._per_image: dict[ImageKey, tuple] = {}
        self._signature: tuple = ()
        self.filter: str = "all"
        self.image_key: ImageKey | None = None
        self.band: tuple[float, float] = (0.0, -1.0)  # empty until the window sets the model's band
        self.thumbnails = ThumbnailCache(parent=self)
        self.thumbnails.expected = self._analysed
        self.thumbnails.ready.connect(self._thumbnails_ready)
        self._rebuild_timer = QTimer(self)  # new results arriving during a run: one rebuild per burst
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(REBUILD_DELAY_MS)
        self._rebuild_timer.timeout.connect(self.rebuild)
        document.countsChanged.connect(self._document_changed)
        document.entriesReset.connect(self._document_changed)
        self._items = self._collect()

    def _analysed(self, key: ImageKey) -> tuple[str, tuple[int, int]]:
        result = self._doc.result(key)
        return (result.content_sha256, result.image_shape) if result is not None else ("", (0, 0))

    # --- what is shown ------------------------------------------------------------------------------
    def set_filter(self, name: str, image_key: ImageKey | None = None) -> None:
        if name not in FILTERS:
            raise ValueError(f"unknown gallery filter {name!r}; expected one of {list(FILTERS)}")
        self.filter, self.image_key = name, image_key
        self.rebuild()

    def set_band(self, low: float, high: float) -> None:
        self.band = (float(low), float(high))
        self.rebuild()

    def _only_added_results(self) -> bool:
        """Every row shown so far is still valid: the change only added results (an analysis run)."""
        old = {k: rest for k, *rest in self._signature}
        new = {k: rest for k, *rest in self._results_signature()}
        return all(new.get(k) == v for k, v in old.items())

    def rebuild(self) -> None:
        """Recompute the rows from the document (results, review, filter)."""
        self._rebuild_timer.stop()
        self.beginResetModel()
        self._items = self._collect()
        self.endResetModel()
        self.rowsRebuilt.emit()

    def _image_items(self, key: ImageKey, result) -> list[GalleryItem]:
        """One image's items, remembered per (result, drawn cells): a new result builds only its own rows."""
        added = self._doc.review.added_cells(key)
        signature = tuple(sorted((cid, a.label, a.bbox) for cid, a in added.items()))
        cached = self._per_image.get(key)
        if cached is not None and cached[0] is result and cached[1] == signature:
            return cached[2]
        items = [GalleryItem(key, cr.cell.cell_id, float(cr.probability), cr.label, cr.cell.bbox)
                 for cr in result.cells]
        items += [GalleryItem(key, cid, math.nan, None, a.bbox) for cid, a in added.items() if a.label != NOT_CELL]
        items.sort(key=_order)
        self._per_image[key] = (result, signature, items)
        self._boxes[key] = [(cr.cell.cell_id, cr.cell.bbox) for cr in result.cells] + \
            [(cid, a.bbox) for cid, a in added.items()]
        return items

    def _collect(self) -> list[GalleryItem]:
        self._signature = self._results_signature()
        lists = []
        for key, result in self._doc.results.items():
            if result.status != "ok":
                continue
            items = self._image_items(key, result)
            if self.image_key is None or key == self.image_key:
                lists.append(items if self.filter == "all" else [it for it in items if self._passes(it)])
        for gone in set(self._per_image) - set(self._doc.results):
            self._per_image.pop(gone, None)
            self._boxes.pop(gone, None)
        return list(heapq.merge(*lists, key=_order))  # each image is sorted already

    def _passes(self, item: GalleryItem) -> bool:
        if self.filter == "all":
            return True
        reviewed = self._doc.review.is_edited(item.key, item.cell_id)
        if self.filter == "reviewed":
            return reviewed
        if self.filter == "not_reviewed":
            return not reviewed
        if self.filter in QUEUE_FILTERS:
            return not decided(self._doc.review, item.key, item.cell_id) and \
                queue_of(item.probability, self._doc.threshold, self.band) == self.filter
        return self.label_of(item) == PARASITIZED

    def _results_signature(self) -> tuple:
        review = self._doc.review
        return tuple((k, id(r), len(review.added_cells(k))) for k, r in self._doc.results.items())

    def _document_changed(self) -> None:
        if self._results_signature() != self._signature:
            for key in {k for k, *_ in self._signature} - set(self._doc.results):
                self.thumbnails.forget(key)
            if self._items and self._only_added_results():
                self._rebuild_timer.start()  # more images analysed: their cells join the list shortly
            else:
                self.rebuild()  # an edit, a removal or the first results: at once
        elif self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))

    def _thumbnails_ready(self, key: str) -> None:
        rows = [r for r, it in enumerate(self._items) if it.key == key]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)),
                                  [Qt.ItemDataRole.DecorationRole])

    # --- queries ------------------------------------------------------------------------------------
    def left(self) -> int:
        """Rows not decided on yet (a queue filter's "N left")."""
        review = self._doc.review
        return sum(1 for it in self._items if not decided(review, it.key, it.cell_id))

    def item(self, row: int) -> GalleryItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[GalleryItem]:
        return list(self._items)

    def row_of(self, key: ImageKey, cell_id: int) -> int:
        for row, it in enumerate(self._items):
            if it.key == key and it.cell_id == cell_id:
                return row
        return -1

    def label_of(self, item: GalleryItem) -> str:
        override = self._doc.review.override(item.key, item.cell_id)
        return override if override is not None else (item.auto_label or "uninfected")

    def is_uncertain(self, item: GalleryItem) -> bool:
        low, high = self.band
        return not math.isnan(item.probability) and low <= item.probability <= high

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        item = self.item(index.row()) if index.isValid() else None
        if item is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return "drawn" if math.isnan(item.probability) else f"{item.probability:.2f}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.get(item, self._boxes.get(item.key, []))
        if role == Qt.ItemDataRole.ToolTipRole:
            p = "drawn by you" if math.isnan(item.probability) else f"P(parasitized) {item.probability:.2f}"
            label = self.label_of(item).replace("_", " ")  # plain: a file name is never markup (issue 24)
            return plain_tooltip(f"{shown_name(Path(item.key).name)}, cell {item.cell_id}: {label} ({p})")
        if role == LabelRole:
            return self.label_of(item)
        if role == ReviewedRole:
            return self._doc.review.is_edited(item.key, item.cell_id)
        if role == UncertainRole:
            return self.is_uncertain(item)
        return {KeyRole: item.key, CellIdRole: item.cell_id, ProbabilityRole: item.probability}.get(role)
