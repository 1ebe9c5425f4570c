"""File names are never rendered as rich text (issue 24, medium): the gallery tooltip and the calibration
dialog showed ``<h1><font color=red>POSITIVE`` in a file name as a red headline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt  # mightBeRichText lives in QtGui's Qt namespace
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel

from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.qt.calibration_dialog import CalibrateDialog
from malaria_desktop.qt.gallery import CellGallery
from malaria_desktop.qt.models import SlideDocument

HOSTILE = "<h1><font color=red>POSITIVE"


def _shown(tooltip: str) -> str:
    """What Qt displays for a tooltip (it renders anything that looks like markup as markup)."""
    if not GuiQt.mightBeRichText(tooltip):
        return tooltip
    doc = QTextDocument()
    doc.setHtml(tooltip)
    return doc.toPlainText()


def test_gallery_tooltip_shows_a_hostile_file_name_literally(qtbot) -> None:
    mask = np.zeros((21, 21), np.uint8)
    cv2.circle(mask, (10, 10), 10, 1, -1)
    cell = Cell(0, (5, 5, 21, 21), (15.0, 15.0), int(mask.sum()), mask.astype(bool),
                np.array([[5, 5], [25, 5], [25, 25]], np.int32), False)
    result = ImageResult(Path(f"/nonexistent/{HOSTILE}.png"), "ok", image_shape=(100, 100),
                         cells=(CellResult(cell, 0.9, "parasitized"),), cell_diameter_px=21.0, threshold=0.5)
    doc = SlideDocument()
    doc.add_paths([result.path])
    doc.set_result(result)
    gallery = CellGallery(doc)
    qtbot.addWidget(gallery)
    tooltip = gallery.model.data(gallery.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert f"{HOSTILE}.png, cell 0: parasitized" in _shown(tooltip)
    gallery.model.thumbnails.shutdown()


def test_calibration_dialog_shows_names_in_messages_literally(qtbot, tmp_path: Path) -> None:
    dialog = CalibrateDialog(tmp_path)
    qtbot.addWidget(dialog)
    dialog._on_error(f"'{HOSTILE}.mdsession' is not a session", "")
    assert dialog.status.textFormat() == Qt.TextFormat.PlainText
    assert dialog.status.text() == f"Not calibrated: '{HOSTILE}.mdsession' is not a session"
    auto = [lab.text() for lab in dialog.findChildren(QLabel) if lab.textFormat() == Qt.TextFormat.AutoText]
    assert auto == []


def test_about_escapes_html_nested_in_a_model_cards_lists() -> None:
    """A card's list of objects was shown through json.dumps unescaped: its HTML rendered in About."""
    from malaria_desktop.core.classification.model_card import parse_model_card
    from malaria_desktop.qt.dialogs import model_card_html

    card = parse_model_card({"format_version": 1, "input_size": 32, "threshold": 0.5,
                             "preprocessing": {"crop": "crop_cell", "scale": 1 / 255, "channel_order": "RGB",
                                               "layout": "NHWC"},
                             "output": {"kind": "sigmoid"}, "class_names": ["uninfected", "parasitized"],
                             "notes": [{"x": "<h1><font color=red>APPROVED</font></h1>"}, "<b>bold</b>"]})
    page = model_card_html(card)
    assert "<h1>" not in page and "<font" not in page and "<b>bold" not in page
    assert "&lt;h1&gt;" in page
