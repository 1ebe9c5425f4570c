"""Text from files and the file system is shown as plain text, never interpreted as HTML.

Why (issue 13 item 9): Qt labels, message boxes and tooltips guess "rich text" from the text itself, so a
file named ``<h1><font color=red>POSITIVE</font></h1>.png`` showed as a red headline in the progress
label, the error box and the tooltip: a name could spoof what the app says. Every QLabel of the app sets
its text format explicitly (``tests/qt/test_plain_text.py`` walks the window and fails on any label left
on ``AutoText``); tooltips, which have no format setting, go through ``plain_tooltip``.
"""

from __future__ import annotations

import html
from os import PathLike

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from malaria_desktop.core.text import display_text


def shown_name(path: str | PathLike[str]) -> str:
    """A path (or its name) for display: undecodable bytes as ``\\xNN`` (Qt would drop them silently)."""
    return display_text(path)


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally: escaped and wrapped, so Qt cannot take it for markup."""
    body = html.escape(display_text(text)).replace("\n", "<br>")
    return f"<p style='white-space:pre-wrap'>{body}</p>"


def plain_label(text: str = "") -> QLabel:
    """A QLabel that never interprets its text as HTML."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(display_text(text))
    return label


def plain_text_labels(widget: QWidget) -> None:
    """Every QLabel under ``widget`` still guessing its format becomes plain text (form-row titles, value
    labels...); labels meant to hold markup set ``Qt.RichText`` themselves, before this runs."""
    for label in widget.findChildren(QLabel):
        if label.textFormat() == Qt.TextFormat.AutoText:
            label.setTextFormat(Qt.TextFormat.PlainText)


__all__ = ["plain_label", "plain_text_labels", "plain_tooltip", "shown_name"]
