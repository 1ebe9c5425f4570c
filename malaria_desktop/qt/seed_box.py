"""Adding a missed cell without dragging: a box of one cell's size, placed by a click or moved by keys.

Why (issue 20): drawing a missed cell needed a mouse drag. In *Add missed cell* mode (``A``) a box of the
image's typical cell size appears in the middle of the view: the arrows move it (a quarter of a cell per
press, Ctrl+arrows one pixel), Shift+arrows make it wider/narrower and taller/shorter, Enter adds it, Esc
leaves the mode. A plain click (no drag) adds a box of that size centred on the click ("click to seed").
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene

MIN_SIZE = 6.0
MOVES = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}


class SeedBox:
    """The dashed box of the keyboard path; lives on one scene, clamped to ``bounds`` (the image)."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self.scene = scene
        self.item: QGraphicsRectItem | None = None

    @property
    def shown(self) -> bool:
        return self.item is not None

    def show(self, centre: QPointF, size: float) -> None:
        self.hide()
        pen = QPen(QColor("#ffd400"), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.item = self.scene.addRect(self._clamped(QRectF(0, 0, size, size).translated(
            centre - QPointF(size / 2, size / 2))), pen)
        self.item.setZValue(20)

    def hide(self) -> None:
        if self.item is not None:
            self.scene.removeItem(self.item)
            self.item = None

    def rect(self) -> QRectF:
        return self.item.rect() if self.item is not None else QRectF()

    def box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` in whole image pixels (what ``ImageView.boxDrawn`` carries)."""
        r = self.rect()
        return int(r.x()), int(r.y()), int(round(r.width())), int(round(r.height()))

    def _clamped(self, rect: QRectF) -> QRectF:
        bounds = self.scene.sceneRect()
        if bounds.isEmpty():
            return rect
        rect.setWidth(min(rect.width(), bounds.width()))
        rect.setHeight(min(rect.height(), bounds.height()))
        dx = max(bounds.left() - rect.left(), 0.0) + min(bounds.right() - rect.right(), 0.0)
        dy = max(bounds.top() - rect.top(), 0.0) + min(bounds.bottom() - rect.bottom(), 0.0)
        return rect.translated(dx, dy)

    def handle_key(self, event: QKeyEvent) -> bool:
        """Arrows move, Shift+arrows resize; True when the key was used."""
        if self.item is None or event.key() not in MOVES:
            return False
        dx, dy = MOVES[Qt.Key(event.key())]
        rect = QRectF(self.item.rect())
        mods = event.modifiers()
        step = 1.0 if mods & Qt.KeyboardModifier.ControlModifier else max(1.0, round(rect.width() / 4))
        if mods & Qt.KeyboardModifier.ShiftModifier:  # Right/Down grow, Left/Up shrink (the centre stays)
            centre = rect.center()
            rect.setWidth(max(MIN_SIZE, rect.width() + 2 * step * dx))
            rect.setHeight(max(MIN_SIZE, rect.height() + 2 * step * dy))
            rect.moveCenter(centre)
        else:
            rect.translate(step * dx, step * dy)
        self.item.setRect(self._clamped(rect))
        return True
