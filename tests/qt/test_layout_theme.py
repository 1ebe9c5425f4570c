"""Layout on small screens and readable colours on the light and the dark desktop theme."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from malaria_desktop.qt import theme
from malaria_desktop.qt.menus import REVIEW_TOOLBAR
from tests.qt.waits import wait_idle


@pytest.fixture(params=["light", "dark"])
def palette_name(request, qapp):
    original = QApplication.palette()
    if request.param == "dark":
        QApplication.setPalette(theme.dark_palette())
    yield request.param
    QApplication.setPalette(original)


def _text_contrast(widget) -> float:
    """Contrast between a rendered label's background and its most distant (text) pixel."""
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB32)
    px = np.asarray(image.constBits()).reshape(image.height(), image.width(), 4)[..., :3][..., ::-1]
    flat = px.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    bg = colours[counts.argmax()]
    far = flat[np.abs(flat.astype(int) - bg).sum(1).argmax()]
    return theme.contrast_ratio(QColor(*bg.tolist()), QColor(*far.tolist()))


def test_figures_flags_and_states_are_readable(qtbot, make_window, smear_dir, palette_name):
    window = make_window()
    window.open_paths([sorted(smear_dir.glob("*.png"))[0]])
    wait_idle(qtbot, window)
    key = window.current_key
    cell = window.document.result(key).cells[0].cell.cell_id
    window.document.review.set_label(key, cell, "not_cell")  # the reviewed column appears
    qtbot.wait(50)
    assert theme.is_dark(window.palette()) == (palette_name == "dark")
    for auto, rev in window.summary.rows.values():
        for label in (auto, rev):
            assert _text_contrast(label) >= 4.5, (palette_name, label.text())
    assert _text_contrast(window.intended_use) >= 4.5
    model = window.slide_panel.list.list_model
    base = window.slide_panel.list.palette().color(QPalette.ColorRole.Base)
    state = model.index(0, 1).data(9)  # Qt.ForegroundRole
    assert state is not None and theme.contrast_ratio(state.color(), base) >= 4.5


def test_fits_1280x720_and_keeps_undo_visible_at_1366(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths(sorted(smear_dir.glob("*.png")))
    wait_idle(qtbot, window)
    assert window.minimumSizeHint().width() <= 1200  # also a 1920-px screen at 150 % (1280 logical px)
    assert window.minimumSizeHint().height() <= 700
    for w, h in ((1280, 720), (1366, 768)):
        window.resize(w, h)
        qtbot.wait(50)
        assert (window.width(), window.height()) == (w, h)
        assert window.summary.isVisible() and window.summary.visibleRegion().boundingRect().width() >= 250
        legend = window.legend
        assert legend.geometry().right() <= window.centralWidget().width()
        for action_id in REVIEW_TOOLBAR:  # every review action is a visible button (the bar wraps)
            if action_id is not None:
                button = window.review_toolbar.widgetForAction(window.action_map[action_id])
                assert button is not None and button.isVisible(), (w, action_id)
        assert not window.review_toolbar.hidden_actions() and not window.view_toolbar.hidden_actions()
    # big figures are never clipped, even with the reviewed column beside them
    key0 = window.current_key
    window.document.review.set_label(key0, window.document.result(key0).cells[-1].cell.cell_id, "not_cell")
    window.resize(1280, 720)
    qtbot.wait(50)
    for auto, rev in window.summary.rows.values():
        for label in (auto, rev):
            assert label.width() >= label.fontMetrics().horizontalAdvance(label.text()), label.text()
    # every image done: the State column gives its width to the file names; the counts keep theirs
    key = window.current_key
    window.document.review.set_label(key, window.document.result(key).cells[0].cell.cell_id, "not_cell")
    table = window.slide_panel.list
    row = window.document.row_of(key)
    assert table.isColumnHidden(1)
    name = table.model().index(row, 0).data()
    assert table.columnWidth(0) >= table.fontMetrics().horizontalAdvance(name) + 6
    count = table.model().index(row, 2).data()
    assert "\u2192" in count and table.columnWidth(2) >= table.fontMetrics().horizontalAdvance(count) + 6
    window.document.add_paths([smear_dir / "not_there.png"])  # queued: the State column is back
    assert not table.isColumnHidden(1)
