"""Views draw models: change the document / marks and assert what the widgets show (no analysis needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from malaria_desktop.core.results import ImageResult
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.models import SlideDocument, SlideListModel
from malaria_desktop.qt.overlays import build_marks, filter_marks, is_uncertain
from malaria_desktop.qt.settings import AppSettings
from tests.helpers.factories import image_result as fake_result


def test_marks_follow_review_and_filters():
    result = fake_result(Path("a.png"), [0.95, 0.1, 0.55, 0.45])
    marks = build_marks(result, {2: "not_cell"}, [2], [(100_000, (0, 0, 5, 5), "parasitized")], 0.5, 0.1)
    assert [m.label for m in marks] == ["parasitized", "not_cell", "parasitized", "uninfected", "parasitized"]
    assert [m.uncertain for m in marks] == [False, False, True, True, False]
    assert marks[1].edited and marks[4].auto_label is None and marks[4].probability is None
    assert [m.cell_id for m in filter_marks(marks, parasitized_only=True)] == [1, 3, 100_000]
    assert [m.cell_id for m in filter_marks(marks, uncertain_only=True)] == [3, 4]
    assert "P(parasitized) = 0.55" in marks[2].tooltip() and "uncertain" in marks[2].tooltip()
    assert is_uncertain(0.5, 0.5, 0.0) and not is_uncertain(None, 0.5, 0.5)


def test_image_view_draws_one_item_per_mark(qtbot):
    view = ImageView()
    qtbot.addWidget(view)
    result = fake_result(Path("a.png"), [0.9, 0.2, 0.3])
    view.set_image(np.zeros((60, 130, 3), np.uint8))
    view.set_marks(build_marks(result, {}, [], [], 0.5, 0.1))
    assert len(view.overlay_items()) == 3
    view.select_cell(2)
    assert view.selected_cell == 2
    view.set_marks(build_marks(result, {2: "parasitized"}, [2], [], 0.5, 0.1))
    assert view.selected_cell == 2 and next(i for i in view.overlay_items() if i.cell_id == 2).mark.edited
    view.set_overlays_visible(False)
    assert view.visible_overlay_count() == 0
    view.zoom_in()
    assert view.zoom_factor() > 0
    view.actual_size()
    assert abs(view.zoom_factor() - 1.0) < 1e-9


def test_document_changes_reach_the_list_model(qtbot, tmp_path):
    doc = SlideDocument()
    model = SlideListModel(doc)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert doc.add_paths([a, b, a]) == [a, b]
    assert model.rowCount() == 2 and model.index(0, 1).data() == "Queued"
    doc.set_result(fake_result(a, [0.9, 0.2, 0.7]))
    assert model.index(0, 1).data() == "Done" and model.index(0, 2).data() == "3" and model.index(0, 3).data() == "2"
    doc.set_result(ImageResult(path=b, status="error", error="not a readable image"))
    assert model.index(1, 1).data() == "Error (see below)"
    assert "not a readable image" in model.index(1, 1).data(Qt.ItemDataRole.ToolTipRole)
    doc.review.set_label(str(a), 1, "uninfected")
    assert model.index(0, 3).data() == "2 \u2192 1"
    doc.set_threshold(0.8)  # automatic verdicts recomputed from the stored probabilities
    assert doc.result(str(a)).n_parasitized == 1
    assert doc.pending_paths() == []


def test_settings_store_is_isolated_and_typed(tmp_path):
    s = AppSettings.at_path(tmp_path / "s.ini")
    assert s.threshold(0.37) == 0.37 and s.rbc_per_ul == 5_000_000 and s.target_cells == 2000
    s.set_threshold(0.61)
    s.update(rbc_per_ul=4_000_000, target_cells=1500)
    for i in range(10):
        s.add_recent_session(tmp_path / f"s{i}.mdsession")
    again = AppSettings.at_path(tmp_path / "s.ini")
    assert again.threshold(0.37) == 0.61 and again.rbc_per_ul == 4_000_000 and again.target_cells == 1500
    assert again.recent_sessions()[0].endswith("s9.mdsession") and len(again.recent_sessions()) == 8
