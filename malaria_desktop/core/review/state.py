"""Technician review of the automatic verdicts: label overrides, added cells, undo/redo, uncertain-first walk.

Why a separate layer: the engine's ``ImageResult`` stays the untouched *automatic* result; the review lives
next to it as edits, so both the automatic and the reviewed figures are always available (issue 4, item 5).

API (used by the Qt GUI; no Qt here):

- ``ReviewLabel`` = ``"parasitized" | "uninfected" | "not_cell"``; ``ImageKey`` = ``str(path)`` of the image
  as given to the pipeline (use :func:`image_key`).
- ``AddedCell(bbox, label, outline=None)``: a cell the technician drew (``bbox`` = ``(x, y, w, h)`` image
  pixels; ``outline`` = polygon of ``(x, y)`` image pixels for pieces of a split or merge, see
  ``core.review.region_edit``; without it the cell is the ellipse inscribed in the box). Its
  ``cell_id`` is ``ADDED_CELL_ID_BASE + n`` (n = 0, 1, ... inside its image), so it never clashes with
  segmented cells.
- ``ReviewState``:
  ``set_label(key, cell_id, label)`` (``label=None`` reverts to the automatic verdict; for an added cell
  ``"not_cell"`` is how to remove it), ``add_cell(key, bbox, label) -> cell_id``, ``undo() -> bool``,
  ``redo() -> bool``, ``can_undo``, ``can_redo``, ``label_of(key, cell_result)`` (override or automatic),
  ``override(key, cell_id)``, ``is_edited(key, cell_id)`` (the technician set a label, even one equal to the
  automatic verdict: the cell counts as *reviewed*), ``added_cells(key) -> dict[int, AddedCell]``,
  ``edits_count`` (cells with a technician label, added cells included), ``subscribe(callback)`` (called with
  a :class:`ReviewChange` after every edit/undo/redo — the GUI turns this into a Qt signal and an autosave),
  ``to_dict()`` / ``ReviewState.from_dict(d)`` (JSON-safe; sessions store it), ``forget_image(key)``,
  ``rename_image(old, new)``, ``clear_history()``; ``with review.batch(): ...`` makes several edits one
  undo step and one notification (multi-select labelling, split, merge).
- ``reviewed_result(key, result, review) -> ImageResult``: the image as the technician sees it after review
  (not_cell removed, labels overridden, added cells included with probability NaN). Feed it to the same
  summary code as the automatic result, so automatic and reviewed figures use one formula.
- ``reviewed_counts(results, review, count_edge_cells=True) -> ReviewedCounts``: automatic vs reviewed
  ``Counts`` (auto_cells, auto_parasitized, reviewed_cells, reviewed_parasitized, edits) per image and in
  total. For parasitemia and flags feed ``reviewed_result`` outputs to ``report.summarise_slide``.
- ``uncertain_order`` / ``next_uncertain``: the uncertain-first walks, in ``core.review.walk`` (which imports this).
- ``apply_threshold(result, threshold) -> ImageResult``: automatic labels recomputed for a new threshold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import cv2
import numpy as np

from malaria_desktop.core.results import PARASITIZED, UNINFECTED, Cell, CellResult, ImageResult, counted
from malaria_desktop.core.review.acceptance import Acceptance

ReviewLabel = Literal["parasitized", "uninfected", "not_cell"]
REVIEW_LABELS: tuple[str, ...] = get_args(ReviewLabel)
NOT_CELL: ReviewLabel = "not_cell"
ImageKey = str
ADDED_CELL_ID_BASE = 100_000
MAX_HISTORY = 10_000  # undo steps kept; far more than a slide's review needs
_VERSIONS = itertools.count(1)  # one sequence for every ReviewState: a version never means two contents


def image_key(path: str | Path) -> ImageKey:
    """The key an image's results and edits are stored under: ``str(path)`` as given to the pipeline."""
    return str(path)


def _check_label(label: str) -> None:
    if label not in REVIEW_LABELS:
        raise ValueError(f"unknown review label {label!r}; expected one of {REVIEW_LABELS}")


@dataclass(frozen=True)
class AddedCell:
    """A cell the segmenter missed and the technician drew as a box."""

    bbox: tuple[int, int, int, int]
    label: ReviewLabel
    outline: tuple[tuple[int, int], ...] | None = None  # polygon (image pixels); None: inscribed ellipse


@dataclass(frozen=True)
class ReviewChange:
    """What changed, for listeners (``cell_id`` of the (first) edited cell; ``cells``: every edited cell)."""

    image_key: ImageKey
    cell_id: int
    kind: Literal["edit", "undo", "redo", "reset"]
    cells: tuple[tuple[ImageKey, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class _Edit:
    """One undoable step: the slot ``(key, cell_id)`` went from ``before`` to ``after``.

    For segmented cells the values are override labels (``None`` = automatic); for added cells they are
    ``AddedCell`` or ``None`` (= not present).
    """

    image_key: ImageKey
    cell_id: int
    before: Any
    after: Any


class ReviewState:
    """All review edits of one session plus the undo/redo history (history is not saved with the session)."""

    def __init__(self) -> None:
        self._overrides: dict[ImageKey, dict[int, ReviewLabel]] = {}
        self._added: dict[ImageKey, dict[int, AddedCell]] = {}
        self._undo: list[tuple[_Edit, ...]] = []  # one entry per undo step (a batch is one step)
        self._redo: list[tuple[_Edit, ...]] = []
        self._listeners: list[Callable[[ReviewChange], None]] = []
        self._batch: list[_Edit] | None = None
        self._versions: dict[ImageKey, int] = {}  # bumped on every change of an image's edits
        self.acceptance = Acceptance(self.subscribe)  # labels given to cells nobody saw (bulk accept)

    def version(self, key: ImageKey) -> int:
        """Changes whenever the image's edits change (0: never edited); caches of derived counts use it."""
        return self._versions.get(key, 0)

    def _bump(self, key: ImageKey) -> None:
        self._versions[key] = next(_VERSIONS)

    # ----- queries -------------------------------------------------------------------------------------
    def override(self, key: ImageKey, cell_id: int) -> ReviewLabel | None:
        """The technician's label for a segmented or added cell, ``None`` when not reviewed."""
        added = self._added.get(key, {}).get(cell_id)
        if added is not None:
            return added.label
        return self._overrides.get(key, {}).get(cell_id)

    def label_of(self, key: ImageKey, cell_result: CellResult) -> ReviewLabel:
        """Reviewed label of an engine cell: the technician's override, else the automatic verdict."""
        label = self._overrides.get(key, {}).get(cell_result.cell.cell_id)
        return label if label is not None else cell_result.label

    def is_edited(self, key: ImageKey, cell_id: int) -> bool:
        """True when the technician labelled this cell (confirming the automatic verdict counts too)."""
        return self.override(key, cell_id) is not None

    def added_cells(self, key: ImageKey) -> dict[int, AddedCell]:
        """Cells the technician drew in this image, by cell_id (a copy)."""
        return dict(self._added.get(key, {}))

    def overrides(self, key: ImageKey) -> dict[int, ReviewLabel]:
        """Label overrides of segmented cells in this image, by cell_id (a copy)."""
        return dict(self._overrides.get(key, {}))

    def image_keys(self) -> list[ImageKey]:
        """Images that have at least one edit."""
        keys = {k for k, v in self._overrides.items() if v} | {k for k, v in self._added.items() if v}
        return sorted(keys)

    @property
    def edits_count(self) -> int:
        return sum(len(v) for v in self._overrides.values()) + sum(len(v) for v in self._added.values())

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # ----- edits ---------------------------------------------------------------------------------------
    def set_label(self, key: ImageKey, cell_id: int, label: ReviewLabel | None) -> None:
        """Label a cell; ``None`` reverts a segmented cell to its automatic verdict. No-op if unchanged."""
        if label is not None:
            _check_label(label)
        added = self._added.get(key, {}).get(cell_id)
        if added is not None:
            if label is None:
                raise ValueError("an added cell has no automatic verdict; label it 'not_cell' to remove it")
            if label != added.label:
                self._do(_Edit(key, cell_id, added, replace(added, label=label)))
            return
        if cell_id >= ADDED_CELL_ID_BASE:
            raise KeyError(f"no added cell {cell_id} in {key}")
        before = self._overrides.get(key, {}).get(cell_id)
        if before != label:
            self._do(_Edit(key, cell_id, before, label))

    def add_cell(self, key: ImageKey, bbox: Iterable[int], label: ReviewLabel,
                 outline: Iterable[Iterable[int]] | None = None) -> int:
        """Add a missed cell drawn as a box ``(x, y, w, h)`` (optionally its polygon); returns its cell_id."""
        _check_label(label)
        x, y, w, h = (int(round(v)) for v in bbox)
        if w < 1 or h < 1:
            raise ValueError(f"a drawn cell needs a positive width and height, got {(x, y, w, h)}")
        poly = None if outline is None else tuple((int(px), int(py)) for px, py in outline)
        if poly is not None and len(poly) < 3:
            raise ValueError("a cell outline needs at least 3 points")
        used = set(self._added.get(key, {})) | {e.cell_id for e in self._batch or () if e.image_key == key}
        used |= {e.cell_id for step in self._undo + self._redo for e in step if e.image_key == key}
        cell_id = ADDED_CELL_ID_BASE + len(self._added.get(key, {}))
        while cell_id in used:
            cell_id += 1
        self._do(_Edit(key, cell_id, None, AddedCell((x, y, w, h), label, poly)))
        return cell_id

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Edits made inside become one undo step and one notification (nested batches join the outer)."""
        if self._batch is not None:
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            step, self._batch = tuple(self._batch), None
            if step:
                self._undo.append(step)
                del self._undo[:-MAX_HISTORY]
                self._redo.clear()
                self._notify(_change(step, "edit"))

    def undo(self) -> bool:
        """Undo the last step; False when there is nothing to undo."""
        if not self._undo:
            return False
        step = self._undo.pop()
        for edit in reversed(step):
            self._apply(edit.image_key, edit.cell_id, edit.before)
        self._redo.append(step)
        self._notify(_change(step, "undo"))
        return True

    def redo(self) -> bool:
        """Redo the last undone step; False when there is nothing to redo."""
        if not self._redo:
            return False
        step = self._redo.pop()
        for edit in step:
            self._apply(edit.image_key, edit.cell_id, edit.after)
        self._undo.append(step)
        self._notify(_change(step, "redo"))
        return True

    def clear_history(self) -> None:
        """Forget undo/redo steps (e.g. after loading a session)."""
        self._undo.clear()
        self._redo.clear()

    def forget_image(self, key: ImageKey) -> None:
        """Drop every edit of one image (the image was removed or re-analysed); not undoable."""
        self._overrides.pop(key, None)
        self._added.pop(key, None)
        self.acceptance.forget_image(key)
        self._bump(key)
        self._undo = [t for t in (tuple(e for e in s if e.image_key != key) for s in self._undo) if t]
        self._redo = [t for t in (tuple(e for e in s if e.image_key != key) for s in self._redo) if t]
        self._notify(ReviewChange(key, -1, "reset"))

    def rename_image(self, old: ImageKey, new: ImageKey) -> None:
        """Move every edit (and undo step) of ``old`` to ``new`` — the image file moved."""
        if old == new:
            return
        for store in (self._overrides, self._added):
            if old in store:
                store[new] = store.pop(old)  # type: ignore[assignment]  # each store keeps its own value type
        self.acceptance.rename_image(old, new)
        self._bump(old)
        self._bump(new)
        self._undo = [tuple(replace(e, image_key=new) if e.image_key == old else e for e in s) for s in self._undo]
        self._redo = [tuple(replace(e, image_key=new) if e.image_key == old else e for e in s) for s in self._redo]
        self._notify(ReviewChange(new, -1, "reset"))

    def subscribe(self, callback: Callable[[ReviewChange], None]) -> Callable[[], None]:
        """Call ``callback(change)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _do(self, edit: _Edit) -> None:
        self._apply(edit.image_key, edit.cell_id, edit.after)
        if self._batch is not None:
            self._batch.append(edit)
            return
        self._undo.append((edit,))
        del self._undo[:-MAX_HISTORY]
        self._redo.clear()
        self._notify(_change((edit,), "edit"))

    def _apply(self, key: ImageKey, cell_id: int, value: Any) -> None:
        self._bump(key)
        if isinstance(value, AddedCell) or (value is None and cell_id in self._added.get(key, {})):
            store: dict = self._added.setdefault(key, {})
        else:
            store = self._overrides.setdefault(key, {})
        if value is None:
            store.pop(cell_id, None)
        else:
            store[cell_id] = value

    def _notify(self, change: ReviewChange) -> None:
        for callback in list(self._listeners):
            callback(change)

    # ----- persistence ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"overrides": {key: {id: label}}, "added": {key: [{cell_id, bbox, label}]}}``."""
        return {
            "overrides": {
                k: {str(cid): lab for cid, lab in sorted(v.items())} for k, v in self._overrides.items() if v
            },
            "added": {
                k: [{"cell_id": cid, "bbox": list(a.bbox), "label": a.label,
                     **({"outline": [list(p) for p in a.outline]} if a.outline else {})}
                    for cid, a in sorted(v.items())]
                for k, v in self._added.items()
                if v
            },
            **self.acceptance.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewState:
        """Inverse of :meth:`to_dict`; raises ValueError/KeyError/TypeError on malformed data."""
        state = cls()
        for key, labels in dict(data.get("overrides", {})).items():
            for cid, label in dict(labels).items():
                _check_label(label)
                state._overrides.setdefault(str(key), {})[int(cid)] = label
        for key, cells in dict(data.get("added", {})).items():
            for item in cells:
                _check_label(item["label"])
                x, y, w, h = (int(v) for v in item["bbox"])
                poly = tuple((int(px), int(py)) for px, py in item["outline"]) if item.get("outline") else None
                state._added.setdefault(str(key), {})[int(item["cell_id"])] = AddedCell((x, y, w, h), item["label"],
                                                                                         poly)
        state.acceptance.load(data)
        for key in set(state._overrides) | set(state._added):
            state._bump(key)
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReviewState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _change(step: tuple[_Edit, ...], kind: Literal["edit", "undo", "redo"]) -> ReviewChange:
    first = step[-1] if kind == "undo" else step[0]
    return ReviewChange(first.image_key, first.cell_id, kind, tuple((e.image_key, e.cell_id) for e in step))


# ----- derived views -----------------------------------------------------------------------------------
def added_cell_result(cell_id: int, added: AddedCell, image_shape: tuple[int, int]) -> CellResult | None:
    """An added cell as a CellResult: its outline filled (else the ellipse inscribed in the box), p NaN.

    Returns None for ``not_cell`` (a removed drawn cell). The ellipse approximates an RBC so crops and
    annotations of drawn cells look like the segmented ones.
    """
    if added.label == NOT_CELL:
        return None
    x, y, w, h = added.bbox
    mask = np.zeros((h, w), np.uint8)
    if added.outline:
        cv2.fillPoly(mask, [np.asarray(added.outline, np.int32).reshape(-1, 1, 2) - (x, y)], 1)
    else:
        cv2.ellipse(mask, (((w - 1) / 2.0, (h - 1) / 2.0), (float(w), float(h)), 0.0), 1, -1)
    mask_b = mask.astype(bool)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = (max(contours, key=len).reshape(-1, 2) + (x, y)).astype(np.int32) if contours else (
        np.array([[x, y], [x + w - 1, y], [x + w - 1, y + h - 1], [x, y + h - 1]], np.int32)
    )
    height, width = image_shape
    on_edge = x <= 0 or y <= 0 or (width > 0 and x + w >= width) or (height > 0 and y + h >= height)
    cell = Cell(cell_id, (x, y, w, h), (x + w / 2.0, y + h / 2.0), int(mask_b.sum()), mask_b, contour, on_edge)
    return CellResult(cell, math.nan, added.label)


def reviewed_result(key: ImageKey, result: ImageResult, review: ReviewState) -> ImageResult:
    """The image after review: not_cell dropped, overrides applied, added cells appended (probability NaN)."""
    if result.status != "ok":
        return result
    cells: list[CellResult] = []
    for cr in result.cells:
        label = review.label_of(key, cr)
        if label == NOT_CELL:
            continue
        cells.append(cr if label == cr.label else replace(cr, label=label))  # not_cell skipped above
    for cell_id, added in sorted(review.added_cells(key).items()):
        extra = added_cell_result(cell_id, added, result.image_shape)
        if extra is not None:
            cells.append(extra)
    return replace(result, cells=tuple(cells))


@dataclass(frozen=True)
class Counts:
    """Automatic vs reviewed cell counts of one image or of the whole slide."""

    auto_cells: int = 0
    auto_parasitized: int = 0
    reviewed_cells: int = 0
    reviewed_parasitized: int = 0
    edits: int = 0  # cells with a technician label, added cells included

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(_astuple(self), _astuple(other), strict=False)))


def _astuple(c: Counts) -> tuple[int, ...]:
    return (c.auto_cells, c.auto_parasitized, c.reviewed_cells, c.reviewed_parasitized, c.edits)


@dataclass(frozen=True)
class ReviewedCounts:
    """``per_image[key]`` and ``total`` (error images count zero)."""

    per_image: dict[ImageKey, Counts]
    total: Counts


def reviewed_counts(
    results: Mapping[ImageKey, ImageResult], review: ReviewState, *, count_edge_cells: bool = True
) -> ReviewedCounts:
    """Automatic and reviewed counts per image and in total (not_cell removed, added cells counted).

    ``count_edge_cells=False`` leaves cells cut by the image border out of both, like ``report``'s option.
    """
    per_image: dict[ImageKey, Counts] = {}
    total = Counts()
    for key, result in results.items():
        if result.status != "ok":
            counts = Counts()
        else:
            auto = counted(result, count_edge_cells)
            rev = counted(reviewed_result(key, result, review), count_edge_cells)
            edits = len(review.overrides(key)) + len(review.added_cells(key))
            counts = Counts(*auto, *rev, edits)
        per_image[key] = counts
        total = total + counts
    return ReviewedCounts(per_image, total)


def apply_threshold(result: ImageResult, threshold: float) -> ImageResult:
    """Recompute the automatic verdicts for another decision threshold (p >= threshold is parasitized)."""
    if result.status != "ok":
        return replace(result, threshold=threshold)
    cells = tuple(  # the not-a-cell verdict does not depend on the parasite threshold
        cr if cr.label == NOT_CELL else replace(cr, label=PARASITIZED if cr.probability >= threshold else UNINFECTED)
        for cr in result.cells
    )
    return replace(result, cells=cells, threshold=threshold)
