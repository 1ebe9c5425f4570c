"""Keyboard paths (issue 20): add a missed cell with keys or one click, merge with Shift+arrows, split with S,
and Remove image then Undo shows the image again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from malaria_desktop.core.review.walk import reading_order
from malaria_desktop.qt.actions import ActionId
from tests.qt.waits import wait_idle


@pytest.fixture
def window(qtbot, make_window, smear_dir):
    window = make_window()
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    window.open_paths(sorted(smear_dir.glob("*.png"))[:2])
    wait_idle(qtbot, window)
    window.view.setFocus()
    return window


def test_add_a_missed_cell_with_keys_only(qtbot, window) -> None:
    view, key = window.view, window.current_key
    QTest.keyClick(view, Qt.Key.Key_A)  # add mode: a one-cell box in the middle of the view
    assert view.add_mode and view.seed.shown
    start = view.seed.rect()
    assert abs(start.width() - view.seed_size()) < 1
    QTest.keyClick(view, Qt.Key.Key_Right)
    QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)  # taller
    moved = view.seed.rect()
    assert moved.x() > start.x() and moved.height() > start.height()
    QTest.keyClick(view, Qt.Key.Key_Return)
    added = window.document.review.added_cells(key)
    assert len(added) == 1 and next(iter(added.values())).bbox == (int(moved.x()), int(moved.y()),
                                                                    round(moved.width()), round(moved.height()))
    assert not view.add_mode and not view.seed.shown and not window.action_map[ActionId.ADD_CELL].isChecked()
    QTest.keyClick(view, Qt.Key.Key_A)
    QTest.keyClick(view, Qt.Key.Key_Escape)  # leaves the mode, adds nothing
    assert not view.add_mode and not window.action_map[ActionId.ADD_CELL].isChecked()
    assert len(window.document.review.added_cells(key)) == 1


def test_click_to_seed_adds_one_cell_sized_box(qtbot, window) -> None:
    view, key = window.view, window.current_key
    window.action_map[ActionId.ADD_CELL].trigger()
    point = view.mapFromScene(200, 150)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    (cell,) = window.document.review.added_cells(key).values()
    x, y, w, h = cell.bbox
    assert abs(w - view.seed_size()) <= 1 and abs(x + w / 2 - 200) <= 2 and abs(y + h / 2 - 150) <= 2


def test_merge_with_shift_arrows_then_m(qtbot, window) -> None:
    view, doc, key = window.view, window.document, window.current_key
    order = reading_order(key, doc.result(key), doc.review)
    view.select_cell(order[0])
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert set(view.selected_cells) == {order[0], order[1]}
    before = doc.counts().per_image[key].reviewed_cells
    QTest.keyClick(view, Qt.Key.Key_M)
    assert doc.counts().per_image[key].reviewed_cells == before - 1
    QTest.keyClick(view, Qt.Key.Key_Right)  # a plain arrow selects one cell again
    assert len(view.selected_cells) == 1


def test_remove_image_then_undo_shows_it_again(qtbot, window) -> None:
    first, second = (e.key for e in window.document.entries)
    assert window.current_key == first and window.view.has_image()
    QTest.keyClick(window.view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key == second and window.view.has_image()  # the next image, not an empty view
    QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key == first and window.view.has_image() and window.view.visible_overlay_count() > 0
    assert window.slide_panel.list.currentIndex().row() == 0
