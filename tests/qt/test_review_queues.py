"""Review queues in the window: one key per cell in the image and in the gallery, "N left", the reviewed rule.

Keys are real QTest key events sent to the widget that has the focus (shortcuts included) and counted.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from malaria_desktop.core.review.acceptance import KEY
from malaria_desktop.core.review.queues import queue_of
from tests.helpers.factories import image_result

IMAGES, UNCERTAIN_PER_IMAGE = 4, 26  # 104 uncertain cells, 8 parasitized calls to confirm


class Keys:
    """Sends key clicks to the focused widget and counts them."""

    def __init__(self) -> None:
        self.count = 0

    def press(self, key: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        widget = QApplication.focusWidget()
        assert widget is not None, "no widget has the keyboard focus"
        QTest.keyClick(widget, key, modifiers)
        self.count += 1


@pytest.fixture
def queue_window(qtbot, make_window, tmp_path: Path):
    window = make_window()
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    threshold = window.document.threshold
    low, _high = window.uncertain_band()
    step = (threshold - low) / (UNCERTAIN_PER_IMAGE + 1)
    probs = [low + step * (j + 1) for j in range(UNCERTAIN_PER_IMAGE)] + [0.97, 0.99, 0.01, 0.02]
    results = []
    for i in range(IMAGES):
        path = tmp_path / f"field_{i}.png"
        result = image_result(path, probs, threshold=threshold, pitch=34)
        cv2.imwrite(str(path), np.full((*result.image_shape, 3), 215, np.uint8))
        results.append(result)
    window.document.add_paths([r.path for r in results])
    for result in results:
        window.document.set_result(result)
    window.update_actions()  # as the end of an analysis run does
    window.slide_panel.list.select_key(window.document.entries[0].key)
    qtbot.waitUntil(lambda: window.view.has_image())
    window.view.setFocus()
    return window


def _decided(window, queue: str) -> int:
    doc = window.document
    band = window.uncertain_band()
    return sum(1 for key, r in doc.results.items() for cr in r.cells
               if queue_of(cr.probability, doc.threshold, band) == queue and doc.review.is_edited(key, cr.cell.cell_id))


def test_uncertain_queue_in_the_image_one_key_per_cell(qtbot, queue_window) -> None:
    window, keys = queue_window, Keys()
    panel = window.queue_panel
    assert panel.left_labels["uncertain"].text() == "104 left of 104"
    assert panel.left_labels["confirm"].text() == "8 left of 8"
    keys.press(Qt.Key.Key_F3)
    for n in range(100):
        keys.press(Qt.Key.Key_U if n % 7 else Qt.Key.Key_N)
    assert _decided(window, "uncertain") == 100 and keys.count == 101  # target: <= 105
    assert _decided(window, "confirm") == 0  # the walk never strayed into the other queue
    assert panel.left_labels["uncertain"].text() == "4 left of 104"
    assert "12 cells left (8 to confirm, 4 uncertain)" in panel.state.text()
    assert window.current_key == window.document.entries[-1].key  # it moved on through the images


def test_uncertain_queue_in_the_gallery_one_key_per_cell(qtbot, queue_window) -> None:
    window, keys = queue_window, Keys()
    keys.press(Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert window.gallery.view.hasFocus() and window.gallery.model.rowCount() == 104
    for n in range(100):
        keys.press(Qt.Key.Key_U if n % 5 else Qt.Key.Key_P)
    assert _decided(window, "uncertain") == 100 and keys.count == 101  # target: <= 105
    assert window.queue_panel.left_labels["uncertain"].text() == "4 left of 104"


def test_confirm_queue_then_the_slide_is_reviewed(qtbot, queue_window) -> None:
    window, keys = queue_window, Keys()
    keys.press(Qt.Key.Key_F4)
    for _ in range(8):
        keys.press(Qt.Key.Key_P)
    assert _decided(window, "confirm") == 8 and window.queue_panel.left_labels["confirm"].text() == "0 left of 8"
    assert not window.queue_panel.buttons["confirm"].isEnabled()
    keys.press(Qt.Key.Key_F3)
    for _ in range(104):
        keys.press(Qt.Key.Key_U)
    assert window.queue_panel.state.text() == "Reviewed: both queues are empty."
    keys.press(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one back: not reviewed any more
    assert window.queue_panel.state.text().startswith("Not reviewed yet: 1 cell left")


def test_bulk_accept_is_not_review_until_the_cells_are_shown(qtbot, queue_window) -> None:
    window, keys = queue_window, Keys()
    keys.press(Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    gallery = window.gallery
    assert gallery.model.filter == "uncertain" and gallery.count.text() == "104 left of 104"
    keys.press(Qt.Key.Key_End, Qt.KeyboardModifier.ShiftModifier)  # select all 104, accept the model's call
    keys.press(Qt.Key.Key_A)
    assert window.document.review.edits_count == 104
    unseen = sum(len(ids) for ids in window.document.review.acceptance.to_dict()[KEY].values())
    assert 0 < unseen < 104  # only the thumbnails on screen were seen
    left = f"{unseen} left of 104"
    qtbot.waitUntil(lambda: window.queue_panel.left_labels["uncertain"].text() == left)
    assert gallery.count.text() == left and window.queue_panel.state.text().startswith("Not reviewed yet")
    window.view.setFocus()
    keys.press(Qt.Key.Key_F3)  # the walk shows the unseen ones; U on each makes it seen and moves on
    for _ in range(unseen):
        keys.press(Qt.Key.Key_U)
    assert window.queue_panel.left_labels["uncertain"].text() == "0 left of 104"


def test_walking_from_the_gallery_or_the_panel_puts_the_keys_in_the_image(qtbot, queue_window) -> None:
    window, keys = queue_window, Keys()
    keys.press(Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert window.gallery.view.hasFocus()
    keys.press(Qt.Key.Key_F3)
    assert window.view.hasFocus() and window.view.selected_cell >= 0
    first = (window.current_key, window.view.selected_cell)
    keys.press(Qt.Key.Key_U)
    assert window.document.review.override(*first) == "uninfected" and window.view.selected_cell != first[1]
    window.queue_panel.buttons["confirm"].click()  # the panel's button walks the other queue
    assert window.view.hasFocus() and window.queues.walking == "confirm"
    key, cell = window.current_key, window.view.selected_cell
    assert next(c for c in window.document.result(key).cells if c.cell.cell_id == cell).probability >= 0.5
