"""The window's slide-level review tools: gallery dock, remove image (undoable), clump tools, PDF report."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from malaria_desktop.qt.actions import ActionId
from tests.qt.pdf_text import pdf_pages, squash
from tests.qt.waits import wait_idle


@pytest.fixture
def two_images(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths(sorted(smear_dir.glob("*.png"))[:2])
    wait_idle(qtbot, window)
    return window


def test_remove_image_leaves_the_counts_and_comes_back_with_undo(qtbot, two_images):
    window = two_images
    doc = window.document
    keys = [e.key for e in doc.entries]
    total = doc.counts().total.auto_cells
    gone = doc.counts().per_image[keys[0]].auto_cells
    window.slide_panel.list.select_key(keys[0])
    first = doc.result(keys[0]).cells[0].cell.cell_id
    doc.review.set_label(keys[1], doc.result(keys[1]).cells[0].cell.cell_id, "not_cell")  # an edit before
    window.action_map[ActionId.REMOVE_IMAGE].trigger()
    assert [e.key for e in doc.entries] == keys[1:] and keys[0] not in doc.results
    assert doc.counts().total.auto_cells == total - gone
    assert window.gallery.model.rowCount() == len(doc.result(keys[1]).cells)
    assert window.action_map[ActionId.UNDO].isEnabled() and "Ctrl+Z" in window.statusBar().currentMessage()
    window.action_map[ActionId.UNDO].trigger()  # the removal first
    assert [e.key for e in doc.entries] == keys and doc.counts().total.auto_cells == total
    assert doc.review.edits_count == 1
    window.action_map[ActionId.UNDO].trigger()  # then the review edit
    assert doc.review.edits_count == 0 and not window.action_map[ActionId.UNDO].isEnabled()
    window.action_map[ActionId.REDO].trigger()
    window.action_map[ActionId.REDO].trigger()
    assert len(doc.entries) == 1 and doc.review.edits_count == 1
    assert first >= 0


def test_gallery_keys_confirm_calls_without_touching_the_image(qtbot, two_images):
    window = two_images
    doc = window.document
    window.action_map[ActionId.REVIEW_PARASITIZED].trigger()
    gallery = window.gallery
    assert window.gallery_dock.isVisible() and gallery.view.hasFocus()
    n = gallery.model.rowCount()
    assert n == sum(r.n_parasitized for r in doc.results.values()) > 1
    QTest.keyClick(gallery.view, Qt.Key.Key_P)
    QTest.keyClick(gallery.view, Qt.Key.Key_P)
    first, second = gallery.model.item(0), gallery.model.item(1)
    assert doc.review.override(first.key, first.cell_id) == "parasitized"
    assert doc.review.override(second.key, second.cell_id) == "parasitized"
    assert doc.review.edits_count == 2 and "marked as parasitized" in window.statusBar().currentMessage()
    assert window.summary.reviewed_note.text().startswith("You reviewed 2 cells")
    QTest.keyClick(gallery.view, Qt.Key.Key_Return)  # show the current cell in its image
    current = gallery.model.item(gallery.view.currentIndex().row())
    assert window.current_key == current.key and window.view.selected_cell == current.cell_id


def test_split_and_merge_from_the_keyboard_are_undoable(qtbot, two_images):
    window = two_images
    doc = window.document
    key = window.current_key
    result = doc.result(key)
    big = max(result.cells, key=lambda c: c.cell.area_px).cell.cell_id
    before = doc.counts().per_image[key].reviewed_cells
    window.view.select_cell(big)
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_S)
    assert doc.counts().per_image[key].reviewed_cells == before + 1
    pieces = list(doc.review.added_cells(key))
    assert len(pieces) == 2 and all(doc.review.added_cells(key)[p].outline for p in pieces)
    drawn = {i.cell_id: i for i in window.view.overlay_items()}
    assert all(drawn[p].mark.contour is not None for p in pieces)  # pieces drawn by their outline
    window.view.select_cell(pieces[0])
    window.view.select_cell(pieces[1], add=True)  # Ctrl+click
    assert window.view.selected_cells == pieces
    QTest.keyClick(window.view, Qt.Key.Key_M)
    assert doc.counts().per_image[key].reviewed_cells == before
    QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.counts().per_image[key].reviewed_cells == before and doc.review.edits_count == 0


def test_print_pdf_holds_the_slide(qtbot, two_images, tmp_path: Path):
    window = two_images
    window.slide_panel.metadata.patient_id.setText("PK/23/0417")
    window.slide_panel.metadata.commit()
    from malaria_desktop.core.safe_names import export_folder_name

    date = window.document.metadata.date
    assert window.pdf.suggested_path().name == export_folder_name("PK/23/0417", "", date) + "_report.pdf"
    assert window.action_map[ActionId.PRINT_PDF].isEnabled()
    with qtbot.waitSignal(window.pdf.written):
        path = window.pdf.write_to(tmp_path / "slide.pdf", reviewer="R. Eviewer")
    text = "".join(pdf_pages(path.read_bytes()))
    total = window.document.counts().total
    for expected in ("PK/23/0417", "R. Eviewer", f"{total.auto_cells:,}", "5,000,000", "tiny",
                     "Not a certified diagnostic device", "Reviewer's signature"):
        assert squash(expected) in text, expected


def test_export_folder_suggestion_is_one_safe_component(qtbot, make_window, tmp_path: Path):
    window = make_window()
    meta = window.slide_panel.metadata
    window.settings.set_last_dir(tmp_path)
    meta.patient_id.setText("PK/23/0417")
    meta.slide_id.setText("A:1")
    meta.commit()
    folder = window.export.suggested_folder()
    assert folder.parent == tmp_path and folder.name.startswith("PK-23-0417_A-1_")
    meta.patient_id.setText("")
    meta.slide_id.setText("")
    meta.commit()
    date = window.document.metadata.date
    assert window.export.suggested_folder().name == ("slide_" + date if date else "slide") + "_report"


def test_opening_a_session_updates_the_strip_under_the_image(qtbot, two_images, make_window, tmp_path: Path):
    path = two_images.sessions.save_session_to(tmp_path / "slide.mdsession")
    two_images.close()
    other = make_window()
    assert other.sessions.open_session(path)
    assert other.progress_label.text() == "Opened slide.mdsession: 2 image(s), 2 analysed."
    assert (other.progress.value(), other.progress.maximum()) == (2, 2)
    assert "Drop field images" not in other.progress_label.text()


def test_alt_drag_cuts_a_clump_along_the_line(qtbot, two_images):
    window = two_images
    doc = window.document
    key = window.current_key
    cell = max(doc.result(key).cells, key=lambda c: c.cell.area_px).cell
    x, y, w, h = cell.bbox
    cx = cell.centroid[0]
    before = doc.counts().per_image[key].reviewed_cells
    vp = window.view.viewport()
    start, end = window.view.mapFromScene(cx, y - 3), window.view.mapFromScene(cx, y + h + 3)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, start)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, end)
    assert doc.counts().per_image[key].reviewed_cells == before + 1
    assert doc.review.override(key, cell.cell_id) == "not_cell" and len(doc.review.added_cells(key)) == 2
    window.action_map[ActionId.UNDO].trigger()
    assert doc.counts().per_image[key].reviewed_cells == before
