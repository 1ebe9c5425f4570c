"""The warning box every error ends in: logged, plain text, non-modal (tests and the event loop never block)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("malaria_desktop.qt.main_window")  # the logger errors always went to


def show_error_box(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    log.error("%s: %s%s", title, message, f"\n{details}" if details else "")
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)  # messages carry file names: never read them as markup
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.show()
    return box
