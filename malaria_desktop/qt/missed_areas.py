"""Outlines of blood that no outlined cell covers: "cells may be missed here" (core.segmentation.coverage).

Why on the image and not only in the warning list: a missed infected cell can only be added back by a
technician who looks at the right place. Dashed orange, under the cell outlines, never clickable (a
click there still reaches the cell beneath, or the add-a-cell tool).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

COLOUR = QColor("#ff9f1a")
TIP = "Cells may be missed here: stained area that no outlined cell covers. Add any cell you see (A)."


class MissedAreas:
    """The dashed outlines of one image's uncovered areas, owned by the image controller."""

    def __init__(self) -> None:
        self.items: list[QGraphicsPathItem] = []

    def show(self, scene: QGraphicsScene, outlines: Iterable[np.ndarray], visible: bool) -> None:
        self.clear()
        pen = QPen(COLOUR, 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)  # the same on screen at any zoom
        for outline in outlines:
            pts = np.asarray(outline, np.float64).reshape(-1, 2)
            if len(pts) < 3:
                continue
            path = QPainterPath()
            path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in pts]))
            path.closeSubpath()
            item = QGraphicsPathItem(path)
            item.setPen(pen)
            item.setZValue(0.5)  # above the image, under the cells' outlines
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            item.setToolTip(TIP)
            item.setVisible(visible)
            scene.addItem(item)
            self.items.append(item)

    def clear(self) -> None:
        for item in self.items:
            if item.scene() is not None:
                item.scene().removeItem(item)
        self.items = []
