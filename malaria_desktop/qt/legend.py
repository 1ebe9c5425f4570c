"""The colour legend and hint line under the image, so the overlays need no manual."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from malaria_desktop.qt.overlays import COLOURS, NOT_CELL, PARASITIZED, REVIEWED_COLOUR, UNINFECTED


def swatch(colour: QColor, *, style: Qt.PenStyle = Qt.PenStyle.SolidLine, fill: bool = False,
           halo: QColor | None = None, size: int = 18) -> QPixmap:
    """A small circle drawn the way the overlay draws a cell."""
    pm = QPixmap(size, size)
    pm.fill(QColor("#3a3a3a"))
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


class Legend(QWidget):
    """"Parasitized / Uninfected / Not a cell / Uncertain / Reviewed" with the same drawing as the overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("legend")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#legend { background: #3a3a3a; } QLabel { color: #f0f0f0; }")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 3, 8, 3)
        outer.setSpacing(2)
        layout = QHBoxLayout()
        layout.setSpacing(6)
        outer.addLayout(layout)
        entries = [
            (swatch(COLOURS[PARASITIZED], fill=True), "<b>Parasitized</b>"),
            (swatch(COLOURS[UNINFECTED]), "Uninfected"),
            (swatch(COLOURS[UNINFECTED], style=Qt.PenStyle.DotLine), "Uncertain (dotted): check"),
            (swatch(COLOURS[NOT_CELL], style=Qt.PenStyle.DashLine), "Not a cell"),
            (swatch(COLOURS[UNINFECTED], halo=REVIEWED_COLOUR), "Reviewed (white rim)"),
        ]
        self.labels: list[QLabel] = []
        for pixmap, text in entries:
            icon = QLabel()
            icon.setPixmap(pixmap)
            label = QLabel(text)
            self.labels.append(label)
            layout.addWidget(icon)
            layout.addWidget(label)
            layout.addSpacing(8)
        layout.addStretch(1)
        self.hint = QLabel("To review: click a cell, then press <b>P</b> parasitized, <b>U</b> uninfected, "
                           "<b>N</b> not a cell (or right-click) \u00b7 <b>Shift+drag</b> a box to add a missed "
                           "cell \u00b7 <b>F3</b> next uncertain cell \u00b7 <b>Ctrl+Z</b> undo")
        self.hint.setWordWrap(True)
        outer.addWidget(self.hint)
