"""Review in the window: click a cell + P/U/N, context menu actions, draw a missed cell, undo/redo,
next uncertain cell, counts update at once, and the export carries the reviewed labels."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from malaria_desktop.qt.actions import ActionId
from tests.qt.waits import wait_idle


def read_rows(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def reviewed_window(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths([sorted(smear_dir.glob("*.png"))[0]])
    wait_idle(qtbot, window)
    window.view.setFocus()
    return window


def view_point(window, x: float, y: float) -> QPoint:
    return window.view.mapFromScene(x, y)


def click_cell(qtbot, window, cell_result) -> None:
    cx, cy = cell_result.cell.centroid
    QTest.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view_point(window, cx, cy))


def first_with(result, label: str):
    return next(c for c in result.cells if c.label == label and not c.cell.on_edge)


def test_click_and_keys_change_counts_at_once(qtbot, reviewed_window):
    window = reviewed_window
    key = window.current_key
    result = window.document.result(key)
    cell = first_with(result, "uninfected")
    click_cell(qtbot, window, cell)
    assert window.view.selected_cell == cell.cell.cell_id
    QTest.keyClick(window.view, Qt.Key.Key_P)
    assert window.document.review.label_of(key, cell) == "parasitized"
    counts = window.document.counts().total
    assert counts.reviewed_parasitized == result.n_parasitized + 1
    auto, reviewed = window.summary.rows["parasitized"]
    assert auto.text() == f"{result.n_parasitized:,}"
    assert reviewed.isVisible() and reviewed.text() == f"{result.n_parasitized + 1:,}"
    item = next(i for i in window.view.overlay_items() if i.cell_id == cell.cell.cell_id)
    assert item.mark.label == "parasitized" and item.mark.edited
    row_text = window.slide_panel.list.list_model.index(0, 3).data()
    assert row_text == f"{result.n_parasitized} \u2192 {result.n_parasitized + 1}"

    QTest.keyClick(window.view, Qt.Key.Key_N)  # not a cell: leaves the count
    assert window.document.counts().total.reviewed_cells == result.n_cells - 1
    assert window.summary.rows["cells"][1].text() == f"{result.n_cells - 1:,}"

    window.action_map[ActionId.UNDO].trigger()
    assert window.document.review.label_of(key, cell) == "parasitized"
    window.action_map[ActionId.UNDO].trigger()
    assert window.document.review.label_of(key, cell) == "uninfected"
    assert not window.document.review.can_undo and not window.action_map[ActionId.UNDO].isEnabled()
    assert not window.summary.rows["cells"][1].isVisible()  # no edits: only the automatic column
    window.action_map[ActionId.REDO].trigger()
    assert window.document.review.label_of(key, cell) == "parasitized"


def test_context_menu_actions_and_revert(qtbot, reviewed_window):
    window = reviewed_window
    key = window.current_key
    cell = first_with(window.document.result(key), "parasitized")
    window.view.select_cell(cell.cell.cell_id)
    window.action_map[ActionId.MARK_UNINFECTED].trigger()
    assert window.document.review.label_of(key, cell) == "uninfected"
    window.action_map[ActionId.REVERT].trigger()
    assert not window.document.review.is_edited(key, cell.cell.cell_id)


def test_keys_without_selection_do_nothing(qtbot, reviewed_window):
    window = reviewed_window
    window.view.select_cell(-1)
    assert window.review.label_selected("parasitized") is False
    assert window.document.review.edits_count == 0


def test_shift_drag_adds_a_missed_cell(qtbot, reviewed_window):
    window = reviewed_window
    key = window.current_key
    before = window.document.counts().total.reviewed_cells
    start, end = view_point(window, 2, 2), view_point(window, 40, 36)
    vp = window.view.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, start)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, end)
    added = window.document.review.added_cells(key)
    assert len(added) == 1
    cell_id, cell = next(iter(added.items()))
    assert cell.label == "uninfected" and cell.bbox[2] >= 30 and cell.bbox[3] >= 25
    assert window.document.counts().total.reviewed_cells == before + 1
    assert window.view.selected_cell == cell_id
    assert any(i.cell_id == cell_id for i in window.view.overlay_items())
    QTest.keyClick(window.view, Qt.Key.Key_P)
    assert window.document.review.added_cells(key)[cell_id].label == "parasitized"
    window.action_map[ActionId.UNDO].trigger()
    window.action_map[ActionId.UNDO].trigger()
    assert window.document.review.added_cells(key) == {}
    assert not any(i.cell_id == cell_id for i in window.view.overlay_items())


def test_add_mode_button_draws_without_shift(qtbot, reviewed_window):
    window = reviewed_window
    window.action_map[ActionId.ADD_CELL].trigger()
    assert window.view.add_mode
    vp = window.view.viewport()
    start, end = view_point(window, 100, 100), view_point(window, 130, 128)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert len(window.document.review.added_cells(window.current_key)) == 1
    assert not window.view.add_mode  # one box per click of the button


def test_f3_walks_this_images_uncertain_queue_in_reading_order(qtbot, reviewed_window):
    from malaria_desktop.core.review.queues import queue_of
    from malaria_desktop.core.review.walk import reading_order

    window = reviewed_window
    window.settings.update(uncertain_margin=0.5)  # the widest band: every cell of the small test field
    key = window.current_key
    result = window.document.result(key)
    band, threshold = window.uncertain_band(), window.document.threshold
    probs = {c.cell.cell_id: c.probability for c in result.cells}
    expected = [cid for cid in reading_order(key, result, window.document.review)
                if cid in probs and queue_of(probs[cid], threshold, band) == "uncertain"]
    assert len(expected) >= 3  # parasitized calls are not in it: they are the F4 queue's
    walk = [window.queues.walk("uncertain")[1] for _ in range(2)]
    assert walk == expected[:2] and window.view.selected_cell == expected[1]
    QTest.keyClick(window.view, Qt.Key.Key_U)  # reviewed: the walk moves on by itself, in reading order
    assert window.view.selected_cell == expected[2]
    window.view.select_cell(expected[0])  # clicking back does not restart from a global rank
    assert window.queues.walk("uncertain") == (key, expected[2])


def test_arrows_and_tab_walk_cells_in_reading_order(qtbot, reviewed_window):
    from malaria_desktop.core.review.walk import reading_order

    window = reviewed_window
    key = window.current_key
    order = reading_order(key, window.document.result(key), window.document.review)
    window.view.select_cell(order[0])
    QTest.keyClick(window.view, Qt.Key.Key_Right)
    assert window.view.selected_cell == order[1]
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    assert window.view.selected_cell == order[2] and window.view.hasFocus()  # Tab is not trapped elsewhere
    QTest.keyClick(window.view, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(window.view, Qt.Key.Key_Left)
    assert window.view.selected_cell == order[0]
    QTest.keyClick(window.view, Qt.Key.Key_P)
    assert window.document.review.override(key, order[0]) == "parasitized"
    assert "Parasitized" in window.statusBar().currentMessage()  # the status line follows the new verdict
    assert "100000" not in window.statusBar().currentMessage()


def test_export_after_review_has_reviewed_labels(qtbot, reviewed_window, tmp_path):
    window = reviewed_window
    key = window.current_key
    result = window.document.result(key)
    cell = first_with(result, "uninfected")
    window.view.select_cell(cell.cell.cell_id)
    window.action_map[ActionId.MARK_PARASITIZED].trigger()
    window.slide_panel.metadata.patient_id.setText("PT-7")
    window.slide_panel.metadata.commit()
    with qtbot.waitSignal(window.exported, timeout=30_000) as blocker:
        window.export.export_to(tmp_path / "report")  # runs in the worker thread behind a modal progress dialog
    summary = blocker.args[0]
    assert summary.n_annotated == 1 and summary.n_crops["parasitized"] >= 1
    assert window.export.progress_dialog is None
    rows = read_rows(tmp_path / "report" / "cells.csv")
    edited = [r for r in rows if r["cell_id"] == str(cell.cell.cell_id)]
    assert edited[0]["label"] == "uninfected" and edited[0]["reviewed_label"] == "parasitized"
    assert edited[0]["reviewed"] == "1"
    slide = read_rows(tmp_path / "report" / "slide.csv")[0]
    assert slide["patient_id"] == "PT-7"
    assert int(slide["reviewed_n_parasitized"]) == int(slide["n_parasitized"]) + 1
    assert list((tmp_path / "report" / "crops" / "Parasitized").glob("*.png"))
    assert list((tmp_path / "report" / "annotated").glob("*.png"))


def test_typing_in_fields_does_not_trigger_review_keys(qtbot, reviewed_window):
    """P/U/N/A/Space/Backspace are review shortcuts only outside text fields."""
    window = reviewed_window
    cell = window.document.result(window.current_key).cells[0]
    window.view.select_cell(cell.cell.cell_id)
    field = window.slide_panel.metadata.patient_id
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    QTest.keyClicks(field, "PUNA 12")
    QTest.keyClick(field, Qt.Key.Key_Backspace)
    assert field.text() == "PUNA 1"
    notes = window.slide_panel.metadata.notes
    notes.setFocus()
    QTest.keyClicks(notes, "pun a")
    assert notes.toPlainText() == "pun a"
    assert window.document.review.edits_count == 0
    assert not window.view.add_mode


def test_export_into_unwritable_place_shows_the_error(qtbot, reviewed_window, tmp_path):
    window = reviewed_window
    blocker_file = tmp_path / "a_file"
    blocker_file.write_text("x")
    with qtbot.waitSignal(window.errorShown, timeout=30_000) as blocker:
        window.export.export_to(blocker_file / "report")  # a folder inside a file cannot be created
    assert "export" in blocker.args[0].lower() or "could not" in blocker.args[0].lower()
    assert window.export.progress_dialog is None
    for w in QApplication.topLevelWidgets():
        if w is not window and w.isVisible():
            w.close()


def test_undo_shows_the_image_of_the_undone_edit(qtbot, make_window, smear_dir):
    window = make_window()
    files = sorted(smear_dir.glob("*.png"))[:2]
    window.open_paths(files)
    wait_idle(qtbot, window)
    first, second = str(files[0]), str(files[1])
    window.slide_panel.list.select_key(first)
    cell = window.document.result(first).cells[0].cell.cell_id
    window.view.select_cell(cell)
    window.action_map[ActionId.MARK_NOT_CELL].trigger()
    window.slide_panel.list.select_key(second)
    assert window.current_key == second
    window.action_map[ActionId.UNDO].trigger()
    assert window.current_key == first and window.view.selected_cell == cell
    window.action_map[ActionId.NEXT_IMAGE].trigger()
    assert window.current_key == second
    window.action_map[ActionId.NEXT_IMAGE].trigger()
    assert window.current_key == first  # wraps around
    assert not window.document.review.is_edited(first, cell)
