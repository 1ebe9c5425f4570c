"""The strip under the image: what the analysis is doing, images analysed so far, Cancel.

Cells counted vs the slide's target are shown once, in the summary panel (two bars with one count confused).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from malaria_desktop.qt.theme import set_bar

HINT = "Drop field images (or a whole folder) anywhere on this window."


class ProgressStrip(QWidget):
    """A passive view: ``AnalysisController`` tells it what to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setMinimumWidth(170)
        self.bar.setFormat("%v of %m images analysed")
        self.label = QLabel(HINT)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # "Analysing ...: <file name>" is never markup
        # a long file name in "Analysing image 3 of 40: ..." must not widen the window (1280-px screens)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(120)
        self.cancel_button = QPushButton("Cancel analysis")
        self.cancel_button.setVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)

    def show_images(self, done: int, total: int) -> None:
        set_bar(self.bar, done, total, f"{done:,} of {total:,} images analysed")

    def set_text(self, text: str, *, wrap: bool = False) -> None:
        self.label.setText(text)
        if wrap:
            self.label.setWordWrap(True)

    def set_cancel_visible(self, visible: bool) -> None:
        self.cancel_button.setVisible(visible)
