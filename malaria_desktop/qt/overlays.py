"""Per-cell overlay marks: what to draw for each cell, and the QGraphicsItem that draws it.

``CellMark`` is a plain description (built from the results + review state, so tests can assert on it);
``CellOverlayItem`` only paints a mark. The colour code is the legend shown under the image:
red = parasitized (filled, thick), green = uninfected, grey dashed = not a cell, dotted outline =
uncertain (probability near the threshold), white halo = reviewed by the technician.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from malaria_desktop.core.results import PARASITIZED, UNINFECTED, VERDICT_COLOURS, ImageResult
from malaria_desktop.core.review.state import NOT_CELL

COLOURS: dict[str, QColor] = {label: QColor(code) for label, code in VERDICT_COLOURS.items()}  # = exported images
SELECTED_COLOUR = QColor("#ffd400")
REVIEWED_COLOUR = QColor("#ffffff")
LABEL_TEXT: dict[str, str] = {PARASITIZED: "Parasitized", UNINFECTED: "Uninfected", NOT_CELL: "Not a cell"}
MAX_DRAWN_POINTS = 2000  # a real cell outline has tens to hundreds of points after the half-pixel cut
CELL_ITEM_TYPE = QGraphicsItem.UserType + 17  # type: ignore[attr-defined]  # missing from PySide6's stubs


@dataclass(frozen=True)
class CellMark:
    """Everything the view needs to draw and describe one cell."""

    cell_id: int
    label: str  # effective label: review override or automatic verdict
    auto_label: str | None  # the model's verdict; None for cells the technician added
    probability: float | None  # P(parasitized); None for added cells
    bbox: tuple[int, int, int, int]
    contour: np.ndarray | None  # (K, 2) x,y image pixels; None -> draw the bbox
    edited: bool
    uncertain: bool

    def tooltip(self) -> str:
        lines = [f"<b>{LABEL_TEXT.get(self.label, self.label)}</b>"]
        if self.probability is not None:
            lines.append(f"P(parasitized) = {self.probability:.2f}")
        if self.auto_label is None:
            lines.append("added by you")
        elif self.edited:
            lines.append(f"model said: {LABEL_TEXT.get(self.auto_label, self.auto_label)} (you changed it)")
        if self.uncertain and not self.edited:
            lines.append("uncertain: please check")
        lines.append("<i>P / U / N keys or right-click to change</i>")
        return "<br>".join(lines)


def is_uncertain(probability: float | None, threshold: float, margin: float,
                 band: tuple[float, float] | None = None) -> bool:
    """A verdict is uncertain when its probability lies in ``band`` (the model card's calibrated
    interval), or without a band within ``margin`` of the threshold."""
    if probability is None:
        return False
    if band is not None:
        return band[0] <= probability <= band[1]
    return abs(probability - threshold) <= margin


def _box(bbox: tuple[int, ...] | list[int]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in bbox)
    return x, y, w, h


def build_marks(
    result: ImageResult,
    labels: Mapping[int, str],
    edited: Iterable[int],
    added: Iterable[tuple],
    threshold: float,
    margin: float,
    band: tuple[float, float] | None = None,
) -> list[CellMark]:
    """Combine the engine's cells, the review overrides and the added cells into marks.

    ``added`` holds ``(cell_id, bbox, label)`` or ``(cell_id, bbox, label, outline)`` (pieces of a split).
    """
    edited_ids = set(edited)
    marks = []
    for cr in result.cells:
        cid = cr.cell.cell_id
        marks.append(CellMark(
            cell_id=cid, label=labels.get(cid, cr.label), auto_label=cr.label, probability=float(cr.probability),
            bbox=_box(cr.cell.bbox), contour=cr.cell.contour, edited=cid in edited_ids,
            uncertain=is_uncertain(cr.probability, threshold, margin, band)))
    for cid, bbox, label, *rest in added:
        outline = np.asarray(rest[0], np.int32) if rest and rest[0] else None
        marks.append(CellMark(cell_id=cid, label=labels.get(cid, label), auto_label=None, probability=None,
                              bbox=_box(bbox), contour=outline, edited=True, uncertain=False))
    return marks


def filter_marks(marks: Iterable[CellMark], *, parasitized_only: bool = False,
                 uncertain_only: bool = False) -> list[CellMark]:
    """Apply the view toggles; both on shows cells that are parasitized OR uncertain."""
    marks = list(marks)
    if not parasitized_only and not uncertain_only:
        return marks
    return [m for m in marks if (parasitized_only and m.label == PARASITIZED)
            or (uncertain_only and m.uncertain and not m.edited)]


def mark_path(mark: CellMark) -> QPainterPath:
    path = QPainterPath()
    if mark.contour is not None and len(mark.contour) >= 3:
        pts = np.asarray(mark.contour, dtype=np.int32).reshape(-1, 1, 2)
        if len(pts) > 24:  # drawing only: drop points that lie within half a pixel of the outline
            pts = cv2.approxPolyDP(pts, 0.5, True)  # type: ignore[assignment]
        epsilon = 1.0
        while len(pts) > MAX_DRAWN_POINTS:  # a crafted zigzag outline froze the window for minutes (issue 24)
            pts = cv2.approxPolyDP(pts, epsilon, True)  # type: ignore[assignment]
            epsilon *= 2
        pts = pts.reshape(-1, 2).astype(float) + 0.5  # type: ignore[assignment]
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in pts.tolist()]))  # type: ignore[call-overload]
        path.closeSubpath()
    else:
        x, y, w, h = mark.bbox
        path.addRect(QRectF(x, y, w, h))
    return path


class CellOverlayItem(QGraphicsPathItem):
    """One cell's outline; pens are cosmetic so the line width stays readable at any zoom."""

    def __init__(self, mark: CellMark) -> None:
        super().__init__(mark_path(mark))
        self.mark = mark
        self._selected = False
        self.setToolTip(mark.tooltip())
        self.setAcceptHoverEvents(True)
        self.setZValue(3 if mark.label == PARASITIZED else 2 if mark.uncertain else 1)
        self._apply_style()

    def type(self) -> int:  # noqa: A003 - Qt API name
        return CELL_ITEM_TYPE

    @property
    def cell_id(self) -> int:
        return self.mark.cell_id

    def set_highlighted(self, on: bool) -> None:
        self._selected = on
        self.setZValue(10 if on else 3 if self.mark.label == PARASITIZED else 1)
        self._apply_style()

    def _apply_style(self) -> None:
        colour = COLOURS.get(self.mark.label, COLOURS[NOT_CELL])
        width = 3.0 if self.mark.label == PARASITIZED else 2.0
        pen = QPen(colour, width)
        pen.setCosmetic(True)
        if self.mark.label == NOT_CELL:
            pen.setStyle(Qt.PenStyle.DashLine)
        elif self.mark.uncertain and not self.mark.edited:
            pen.setStyle(Qt.PenStyle.DotLine)
        self.setPen(pen)
        if self.mark.label == PARASITIZED:
            fill = QColor(colour)
            fill.setAlpha(60)
            self.setBrush(QBrush(fill))
        else:
            self.setBrush(QBrush(Qt.BrushStyle.NoBrush))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._selected or self.mark.edited:
            halo = QPen(SELECTED_COLOUR if self._selected else REVIEWED_COLOUR, 6.0 if self._selected else 4.5)
            halo.setCosmetic(True)
            painter.setPen(halo)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(self.path())
        painter.setPen(self.pen())
        painter.setBrush(self.brush())
        painter.drawPath(self.path())
