"""The strip under the image: what the analysis is doing, cells counted vs the slide's target, Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

HINT = "Drop field images (or a whole folder) anywhere on this window."


class ProgressStrip(QWidget):
    """A passive view: ``AnalysisController`` tells it what to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setMinimumWidth(280)
        self.bar.setFormat("%v / %m cells counted")
        self.label = QLabel(HINT)
        self.cancel_button = QPushButton("Cancel analysis")
        self.cancel_button.setVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)

    def show_count(self, counted: int, target: int) -> None:
        self.bar.setMaximum(max(target, 1))
        self.bar.setValue(min(counted, target))
        self.bar.setFormat(f"{counted:,} / {target:,} cells counted")

    def set_text(self, text: str, *, wrap: bool = False) -> None:
        self.label.setText(text)
        if wrap:
            self.label.setWordWrap(True)

    def set_cancel_visible(self, visible: bool) -> None:
        self.cancel_button.setVisible(visible)
