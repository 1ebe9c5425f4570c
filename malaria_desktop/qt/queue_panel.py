"""The "Review" box of the right-hand panel: what is left in each review queue, and whether the slide is done.

It only shows ``core.review.queues.QueueCounts`` and offers a button per queue (the same as F4 / F3); the
queue controller decides what they do. Why a box of its own: the technician must see at a glance how many
cells are left before the slide counts as reviewed (issue 20).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

from malaria_desktop.core.review.queues import QUEUE_TEXT, QUEUES, QueueCounts, QueueName
from malaria_desktop.qt import theme

WALK_KEYS: dict[QueueName, str] = {"confirm": "F4", "uncertain": "F3"}


class QueuePanel(QGroupBox):
    """Two rows (queue, "N left of M", a walk button) and one sentence saying what is left."""

    walkRequested = Signal(str)  # queue name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Review", parent)
        grid = QGridLayout(self)
        grid.setVerticalSpacing(4)
        self.left_labels: dict[QueueName, QLabel] = {}
        self.buttons: dict[QueueName, QPushButton] = {}
        for row, queue in enumerate(QUEUES):
            grid.addWidget(QLabel(QUEUE_TEXT[queue]), row, 0)
            left = QLabel("\u2013")
            left.setObjectName(f"queue_left_{queue}")
            grid.addWidget(left, row, 1)
            button = QPushButton(f"Walk ({WALK_KEYS[queue]})")
            button.setToolTip(f"Show the next cell of this queue; P/U/N then moves on ({WALK_KEYS[queue]})")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keyboard stays with the image being reviewed
            button.clicked.connect(lambda _=False, q=queue: self.walkRequested.emit(q))
            grid.addWidget(button, row, 2)
            self.left_labels[queue], self.buttons[queue] = left, button
        self.state = QLabel("No images analysed yet.")
        self.state.setWordWrap(True)
        grid.addWidget(self.state, len(QUEUES), 0, 1, 3)
        grid.setColumnStretch(0, 1)
        self.counts: QueueCounts | None = None

    def show_counts(self, counts: QueueCounts | None) -> None:
        """``None``: nothing analysed yet."""
        self.counts = counts
        for queue in QUEUES:
            count = counts.of(queue) if counts is not None else None
            self.left_labels[queue].setText("\u2013" if count is None else f"{count.left:,} left of {count.total:,}")
            self.buttons[queue].setEnabled(bool(count and count.left))
        if counts is None:
            self.state.setText("No images analysed yet.")
            self.state.setStyleSheet("")
            return
        self.state.setText(counts.describe())
        colour = theme.colour("good" if counts.reviewed else "warn", self.palette())
        self.state.setStyleSheet(f"color: {colour}; font-weight: 600;")
