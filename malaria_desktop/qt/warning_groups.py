"""Image-quality warnings grouped by kind: one line per kind with the number of images, expandable to them.

Why: 30 images of one slide gave 28 near-identical lines in the flags panel (issue 20); what a technician
needs is "uncertain cell size – 28 images", and which ones when they want to look. The kind of a warning
is its text before the first colon (the segmenter's and the domain check's warnings are written so),
else its text without the figures in brackets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from malaria_desktop.core.results import ImageResult
from malaria_desktop.qt.plain_text import plain_tooltip, shown_name

FAILED = "could not be analysed"
_FIGURES = re.compile(r"\s*\([^)]*\)")
KeyRole = Qt.ItemDataRole.UserRole + 1


def warning_kind(text: str) -> str:
    """'uncertain cell size: estimators disagree (41 px…)' -> 'uncertain cell size'."""
    head = text.split(":", 1)[0] if ":" in text else _FIGURES.sub("", text)
    return (head.strip() or text.strip()).replace("_", " ")  # "unlike_training_data" -> words


@dataclass(frozen=True)
class WarningGroup:
    """One kind of warning and the images that have it: ``(image key, the full warning text)``."""

    kind: str
    images: tuple[tuple[str, str], ...]

    def title(self) -> str:
        n = len({key for key, _ in self.images})
        return f"{self.kind} \u2013 {n} image{'s' if n != 1 else ''}"


def group_warnings(results: Mapping[str, ImageResult]) -> list[WarningGroup]:
    """Failed images first, then the kinds in the order they first appear (slide order)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    failed = [(key, r.error or FAILED) for key, r in results.items() if r.status != "ok"]
    if failed:
        groups[FAILED] = failed
    for key, result in results.items():
        if result.status == "ok":
            for text in result.warnings:
                groups.setdefault(warning_kind(text), []).append((key, text))
    return [WarningGroup(kind, tuple(items)) for kind, items in groups.items()]


def warning_icon() -> QIcon:
    """The mark of an image with a warning in the image list (the style's own warning sign)."""
    return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)


def warned_keys(results: Mapping[str, ImageResult]) -> set[str]:
    """Images with at least one warning or a failure (the image list marks them)."""
    return {key for key, r in results.items() if r.status != "ok" or r.warnings}


class WarningTree(QTreeWidget):
    """Collapsed kinds; expanding one lists its images; Enter / double-click on an image asks to show it."""

    imageRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setRootIsDecorated(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemActivated.connect(self._activated)
        self.itemExpanded.connect(lambda _item: self.updateGeometry())
        self.itemCollapsed.connect(lambda _item: self.updateGeometry())
        self._shown: list[WarningGroup] = []

    def show_groups(self, groups: list[WarningGroup]) -> None:
        """Replace the lines (kinds that were open stay open)."""
        if groups == self._shown:
            return
        expanded = {top.data(0, KeyRole) for top in self._tops() if top.isExpanded()}
        self._shown = list(groups)
        self.clear()
        for group in groups:
            top = QTreeWidgetItem([group.title()])
            top.setData(0, KeyRole, group.kind)
            top.setToolTip(0, plain_tooltip(group.kind))
            for key, text in group.images:
                child = QTreeWidgetItem([shown_name(Path(key).name)])
                child.setData(0, KeyRole, key)
                child.setToolTip(0, plain_tooltip(f"{Path(key).name}\n{text}"))
                top.addChild(child)
            self.addTopLevelItem(top)
            top.setExpanded(group.kind in expanded)
        self.setVisible(bool(groups))
        self.updateGeometry()

    def _tops(self) -> list[QTreeWidgetItem]:
        return [top for i in range(self.topLevelItemCount()) if (top := self.topLevelItem(i)) is not None]

    def groups(self) -> list[WarningGroup]:
        return list(self._shown)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.parent() is not None:
            self.imageRequested.emit(str(item.data(0, KeyRole)))
        else:
            item.setExpanded(not item.isExpanded())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        rows = sum(1 + (top.childCount() if top.isExpanded() else 0) for top in self._tops())
        return QSize(super().sizeHint().width(), max(1, rows) * (self.fontMetrics().height() + 6) + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.sizeHint()
