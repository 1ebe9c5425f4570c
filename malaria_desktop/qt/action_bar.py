"""A toolbar that wraps onto a second line instead of hiding its last actions behind "»".

Why (issue 20): at 1366x768, and at 1280x720 with 150 % scaling, the review toolbar hid *Gallery* and
*Add missed cell* in ``QToolBar``'s overflow menu, where a technician never finds them. Here every action
stays a visible button; a narrow window gets a second row of buttons (a taller bar), never fewer.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QLayout, QLayoutItem, QSizePolicy, QToolButton, QWidget, QWidgetItem

from malaria_desktop.qt.plain_text import plain_label

SPACING = 2


class FlowLayout(QLayout):
    """Items left to right, wrapping to a new line when the width runs out (Qt's flow layout example)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setContentsMargins(2, 1, 2, 1)
        self.setSpacing(SPACING)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 - Qt API
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt API
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt API
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 - Qt API
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 - Qt API
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        """Everything on one line (the height for a narrower width comes from ``heightForWidth``)."""
        items = [item.sizeHint() for item in self._items if not item.isEmpty()]
        m = self.contentsMargins()
        width = sum(s.width() for s in items) + self.spacing() * max(0, len(items) - 1)
        height = max((s.height() for s in items), default=0)
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802 - Qt API
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _place(self, rect: QRect, *, move: bool) -> int:
        """Lay the items out in ``rect`` (or only measure); returns the height used."""
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line_height = area.x(), area.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x + hint.width() > area.right() + 1 and line_height > 0:
                x, y, line_height = area.x(), y + line_height + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + m.bottom()


class ActionBar(QFrame):
    """Text buttons for actions, in rows that wrap; ``addSeparator`` is a small gap."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"action_bar_{name.lower()}")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.flow = FlowLayout(self)
        self.flow.addWidget(plain_label(f" {name}: "))
        self.buttons: dict[QAction, QToolButton] = {}

    def addAction(self, action: QAction) -> QToolButton:  # type: ignore[override]  # noqa: N802 - Qt's name
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setAutoRaise(True)
        self.flow.addItem(QWidgetItem(button))
        self.buttons[action] = button
        return button

    def addSeparator(self) -> None:  # noqa: N802 - Qt's name
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        line.setFixedWidth(8)
        self.flow.addWidget(line)

    def actions(self) -> list[QAction]:
        return list(self.buttons)

    def widgetForAction(self, action: QAction) -> QToolButton | None:  # noqa: N802 - QToolBar's name
        return self.buttons.get(action)

    def hidden_actions(self) -> list[QAction]:
        """Actions whose button lies (partly) outside the bar: none, unless the layout is broken."""
        inside = self.rect()
        return [a for a, b in self.buttons.items() if not b.isVisible() or not inside.contains(b.geometry())]
