"""The image view outlines "cells may be missed here" areas from the result, under the cells, not clickable."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from malaria_desktop.qt.actions import create_actions
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.controllers.viewer import ImageController
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.missed_areas import TIP
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.settings import AppSettings
from tests.helpers.factories import image_result as fake_result


@pytest.fixture
def actions(qtbot):
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    yield create_actions(host)  # the host widget owns the actions: keep it alive for the test


def test_uncovered_areas_are_drawn_with_the_cells_and_go_with_the_image(qtbot, actions, tmp_path):
    view = ImageView()
    qtbot.addWidget(view)
    document = SlideDocument()
    ctx = ControllerContext(document, actions, AppSettings.at_path(tmp_path / "settings.ini"))
    controller = ImageController(ctx, view, select_key=lambda k: None)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.full((60, 130, 3), 200, np.uint8))
    document.add_paths([path])
    outline = np.array([[5, 5], [40, 5], [40, 30], [5, 30]], np.int32)
    document.set_result(replace(fake_result(path, [0.9, 0.2]), uncovered_share=0.2, uncovered=(outline,)))
    with qtbot.waitSignal(controller.overlaysDrawn):
        controller.show_image(str(path))
    items = controller.missed.items
    assert len(items) == 1 and items[0].scene() is view.scene() and items[0].isVisible()
    assert items[0].toolTip() == TIP and items[0].acceptedMouseButtons() == Qt.MouseButton.NoButton
    rect = items[0].path().boundingRect()
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (5, 5, 40, 30)
    assert items[0].zValue() < min(i.zValue() for i in view.overlay_items())  # under the cells' outlines
    document.set_result(fake_result(path, [0.9, 0.2]))  # re-analysed: nothing uncovered any more
    controller.refresh_overlays()
    assert controller.missed.items == [] and not [i for i in view.scene().items() if i.toolTip() == TIP]
    controller.clear()
    assert controller.missed.items == []
