"""The colour legend and hint line under the image, so the overlays need no manual.

The entries sit in a flow layout and the hint wraps, so the legend takes two lines on a narrow window
instead of forcing the window to be 1,300 px wide.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QLayoutItem, QSizePolicy, QVBoxLayout, QWidget

from malaria_desktop.qt.overlays import COLOURS, NOT_CELL, PARASITIZED, REVIEWED_COLOUR, UNINFECTED

BACKGROUND = "#3a3a3a"  # the legend sits on a dark strip in both themes: the overlay colours are made for it
FOREGROUND = "#f0f0f0"


def swatch(colour: QColor, *, style: Qt.PenStyle = Qt.PenStyle.SolidLine, fill: bool = False,
           halo: QColor | None = None, size: int = 18) -> QPixmap:
    """A small circle drawn the way the overlay draws a cell."""
    pm = QPixmap(size, size)
    pm.fill(QColor(BACKGROUND))
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    rect = QRectF(3, 3, size - 6, size - 6)
    if halo is not None:
        painter.setPen(QPen(halo, 4.5))
        painter.drawEllipse(rect)
    pen = QPen(colour, 2.5)
    pen.setStyle(style)
    painter.setPen(pen)
    if fill:
        c = QColor(colour)
        c.setAlpha(90)
        painter.setBrush(c)
    painter.drawEllipse(rect)
    painter.end()
    return pm


class FlowLayout(QLayout):
    """Items left to right, wrapping to the next line when the width runs out (Qt's flow-layout example)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 12) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _arrange(self, rect: QRect, *, apply: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line = area.x(), area.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > area.right() + 1 and line > 0:
                x, y, line = area.x(), y + line + 2, 0
            if apply:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line - rect.y() + m.bottom()


ENTRIES = (
    ("parasitized", "<b>Parasitized</b>"),
    ("uninfected", "Uninfected"),
    ("uncertain", "Uncertain (dotted): please check"),
    ("not_cell", "Not a cell"),
    ("reviewed", "Reviewed (white rim)"),
)
HINT = ("<b>F4</b> cells to confirm, <b>F3</b> uncertain cells, then <b>P</b> parasitized, <b>U</b> uninfected, "
        "<b>N</b> not a cell (moves on) \u00b7 arrows step \u00b7 <b>S</b> split a clump (or <b>Alt+drag</b> a cut), "
        "<b>Shift+arrows</b> or Ctrl+click + <b>M</b> merge \u00b7 <b>A</b> add a missed cell (arrows, Enter; or "
        "click) \u00b7 <b>Ctrl+G</b> cell gallery \u00b7 <b>Ctrl+Z</b> undo")


class Legend(QWidget):
    """"Parasitized / Uninfected / Uncertain / Not a cell / Reviewed" with the same drawing as the overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("legend")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"#legend {{ background: {BACKGROUND}; }} QLabel {{ color: {FOREGROUND}; }}")
        pictures = {
            "parasitized": swatch(COLOURS[PARASITIZED], fill=True),
            "uninfected": swatch(COLOURS[UNINFECTED]),
            "uncertain": swatch(COLOURS[UNINFECTED], style=Qt.PenStyle.DotLine),
            "not_cell": swatch(COLOURS[NOT_CELL], style=Qt.PenStyle.DashLine),
            "reviewed": swatch(COLOURS[UNINFECTED], halo=REVIEWED_COLOUR),
        }
        self.key = QWidget()
        flow = FlowLayout(self.key)
        flow.setContentsMargins(0, 0, 0, 0)
        self.labels: list[QLabel] = []
        for key, text in ENTRIES:
            entry = QWidget()
            row = QHBoxLayout(entry)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(4)
            icon = QLabel()
            icon.setPixmap(pictures[key])
            label = QLabel(text)
            label.setTextFormat(Qt.TextFormat.RichText)  # our own markup (bold), never a file name
            row.addWidget(icon)
            row.addWidget(label)
            self.labels.append(label)
            flow.addWidget(entry)
        self.hint = QLabel(HINT)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setWordWrap(True)
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hint.setMinimumWidth(200)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 3, 8, 3)
        outer.setSpacing(2)
        outer.addWidget(self.key)
        outer.addWidget(self.hint)
