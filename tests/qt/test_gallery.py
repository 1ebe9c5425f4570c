"""The review gallery: filters, probability order, P/U/N on a multi-selection, lazy thumbnails, 5,000+ cells."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.qt.gallery import CellGallery
from malaria_desktop.qt.gallery_model import THUMB_PX, LabelRole, ReviewedRole
from malaria_desktop.qt.models import SlideDocument


@pytest.fixture(scope="module")
def analysed(smear_dir: Path, classifier) -> list[ImageResult]:
    from malaria_desktop.core.image_io import load_image
    from malaria_desktop.core.pipeline import analyze_image

    return [analyze_image(load_image(p), classifier, path=p) for p in sorted(smear_dir.glob("*.png"))]


@pytest.fixture
def gallery(qtbot, analysed):
    doc = SlideDocument()
    doc.add_paths([r.path for r in analysed])
    for r in analysed:
        doc.set_result(r)
    widget = CellGallery(doc)
    widget.model.set_band(0.3, 0.7)
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.model.thumbnails.shutdown()


def test_rows_sorted_by_probability_and_filters(gallery, analysed) -> None:
    model = gallery.model
    total = sum(r.n_cells for r in analysed)
    assert model.rowCount() == total and gallery.count.text() == f"{total:,} cells"
    probs = [it.probability for it in model.items()]
    assert probs == sorted(probs, reverse=True)
    assert model.index(0).data() == f"{probs[0]:.2f}"  # the probability under each thumbnail
    gallery.set_filter("parasitized")
    assert model.rowCount() == sum(r.n_parasitized for r in analysed) > 0
    assert all(model.index(r).data(LabelRole) == "parasitized" for r in range(model.rowCount()))
    key = str(analysed[1].path)
    gallery.set_filter("all", key)
    assert model.rowCount() == analysed[1].n_cells and {it.key for it in model.items()} == {key}
    gallery.set_filter("uncertain")
    assert all(0.3 <= it.probability <= 0.7 for it in model.items())
    gallery.set_filter("reviewed")
    assert model.rowCount() == 0


def test_keys_label_selection_as_one_step_and_move_on(qtbot, gallery) -> None:
    view, model, doc = gallery.view, gallery.model, gallery._doc
    gallery.set_filter("parasitized")
    gallery.focus_first()
    first = model.item(0)
    qtbot.keyClick(view, Qt.Key.Key_P)
    assert doc.review.override(first.key, first.cell_id) == "parasitized"
    assert view.currentIndex().row() == 1 and model.index(0).data(ReviewedRole)
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert len(view.selected_cells()) == 3
    qtbot.keyClick(view, Qt.Key.Key_U)
    assert [model.index(r).data(LabelRole) for r in (1, 2, 3)] == ["uninfected"] * 3
    assert view.currentIndex().row() == 4 and doc.review.edits_count == 4
    assert model.rowCount() > 4  # rows stay put while reviewing (no jumping list)
    doc.review.undo()  # the three U's were one step
    assert [model.index(r).data(LabelRole) for r in (1, 2, 3)] == ["parasitized"] * 3
    assert doc.review.edits_count == 1
    qtbot.keyClick(view, Qt.Key.Key_Backspace)  # back to the model's verdict: not reviewed any more
    assert doc.review.edits_count == 1 and view.currentIndex().row() == 5


def test_window_shortcuts_do_not_steal_gallery_keys(qtbot, gallery) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    stolen = []
    host = gallery.window()
    action = QAction("Mark P", host)
    action.setShortcut(QKeySequence("P"))
    action.triggered.connect(lambda: stolen.append(1))
    host.addAction(action)
    gallery.focus_first()
    qtbot.keyClick(gallery.view, Qt.Key.Key_P)
    assert not stolen and gallery._doc.review.edits_count == 1
    split = QAction("Split", host)
    split.setShortcut(QKeySequence("S"))
    split.triggered.connect(lambda: stolen.append("S"))
    host.addAction(split)
    qtbot.keyClick(gallery.view, Qt.Key.Key_S)  # the image's split key does not reach through the gallery
    assert not stolen


def test_enter_and_double_click_ask_to_show_the_cell(qtbot, gallery) -> None:
    gallery.focus_first()
    item = gallery.model.item(0)
    with qtbot.waitSignal(gallery.showCellRequested) as sig:
        qtbot.keyClick(gallery.view, Qt.Key.Key_Return)
    assert sig.args == [item.key, item.cell_id]
    rect = gallery.view.visualRect(gallery.model.index(1))
    qtbot.mouseClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # as a user does
    with qtbot.waitSignal(gallery.showCellRequested) as sig:
        qtbot.mouseDClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args == [gallery.model.item(1).key, gallery.model.item(1).cell_id]


def test_thumbnails_are_cut_lazily_off_the_gui_thread(qtbot, gallery) -> None:
    model = gallery.model
    index = model.index(0)
    image = index.data(Qt.ItemDataRole.DecorationRole)
    if image is None:  # not cut yet: the image is queued, the view paints a placeholder
        with qtbot.waitSignal(model.thumbnails.ready, timeout=10_000):
            pass
        image = index.data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(image, QImage) and image.width() == THUMB_PX and image.height() == THUMB_PX
    assert np.asarray(image.constBits()).std() > 0  # real pixels, not the grey placeholder


def _fake_results(n_images: int, per_image: int) -> list[ImageResult]:
    rng = np.random.default_rng(0)
    mask = np.zeros((21, 21), np.uint8)
    cv2.circle(mask, (10, 10), 10, 1, -1)
    results = []
    for i in range(n_images):
        cells = []
        for j in range(per_image):
            x, y = 25 * (j % 40), 25 * (j // 40)
            p = float(rng.random())
            cell = Cell(j, (x, y, 21, 21), (x + 10.0, y + 10.0), int(mask.sum()), mask.astype(bool),
                        np.array([[x, y], [x + 20, y], [x + 20, y + 20]], np.int32), False)
            cells.append(CellResult(cell, p, "parasitized" if p >= 0.5 else "uninfected"))
        results.append(ImageResult(Path(f"/nonexistent/field_{i}.png"), "ok", image_shape=(400, 1000),
                                   cells=tuple(cells), cell_diameter_px=21.0, threshold=0.5))
    return results


def test_six_thousand_cells_no_widget_per_cell_and_only_visible_thumbnails(qtbot) -> None:
    doc = SlideDocument()
    results = _fake_results(20, 300)
    doc.add_paths([r.path for r in results])
    for r in results:
        doc.set_result(r)
    gallery = CellGallery(doc)
    qtbot.addWidget(gallery)
    requested = []
    original = gallery.model.thumbnails.get
    gallery.model.thumbnails.get = lambda item, boxes: requested.append(item) or original(item, boxes)
    gallery.resize(600, 400)
    gallery.show()
    qtbot.waitExposed(gallery)
    qtbot.waitUntil(lambda: len(requested) > 0, timeout=5000)
    qtbot.wait(100)
    assert gallery.model.rowCount() == 6000
    assert len(gallery.findChildren(QWidget)) < 40  # no widget per cell
    assert 0 < len(requested) < 200  # only rows on screen ask for their thumbnail
    gallery.view.scrollToBottom()
    gallery.view.selectionModel().setCurrentIndex(gallery.model.index(5999),
                                                  QItemSelectionModel.SelectionFlag.ClearAndSelect)
    assert math.isclose(gallery.model.item(5999).probability, min(r.probability for x in results for r in x.cells))
    gallery.model.thumbnails.shutdown()


def test_correct_the_wrong_calls_then_accept_the_rest(qtbot, gallery) -> None:
    view, model, doc = gallery.view, gallery.model, gallery._doc
    gallery.set_filter("parasitized")
    gallery.focus_first()
    n = min(6, model.rowCount())
    assert n >= 4
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_U)  # the second call is wrong
    for _ in range(n - 3):
        qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == n - 1
    qtbot.keyClick(view, Qt.Key.Key_Home, Qt.KeyboardModifier.ShiftModifier)
    assert len(view.selected_cells()) == n
    qtbot.keyClick(view, Qt.Key.Key_A)
    labels = [doc.review.override(model.item(r).key, model.item(r).cell_id) for r in range(n)]
    assert labels == ["parasitized", "uninfected"] + ["parasitized"] * (n - 2)  # the U was kept
    assert doc.review.override(model.item(n).key, model.item(n).cell_id) is None  # nothing past the selection
    doc.review.undo()  # the accept is one step
    assert doc.review.edits_count == 1


def test_select_all_and_accept_records_unseen_cells_as_accepted(qtbot, gallery) -> None:
    """Ctrl+A, A on thousands of cells: only the thumbnails on screen count as reviewed."""
    from malaria_desktop.core.review.tally import review_tally

    view, model, doc = gallery.view, gallery.model, gallery._doc
    gallery.set_filter("all")
    gallery.focus_first()
    on_screen = sum(view.visualRect(model.index(r)).intersects(view.viewport().rect())
                    for r in range(model.rowCount()))
    assert 0 < on_screen < model.rowCount()  # the slide's cells do not fit the window
    qtbot.keyClick(view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view, Qt.Key.Key_A)
    tally = review_tally(doc.results, doc.review)
    assert tally.reviewed + tally.accepted == model.rowCount() == doc.review.edits_count
    assert tally.reviewed == on_screen and tally.accepted == model.rowCount() - on_screen
