"""Nothing shown that is not this patient's (issue 13 items 2, 8, 12) in the window."""

from __future__ import annotations

import json
import shutil

import cv2

from malaria_desktop.core.review.session import load_session
from tests.qt.waits import wait_idle


def _analysed(qtbot, make_window, files):
    window = make_window()
    window.open_paths(files)
    wait_idle(qtbot, window)
    return window


def test_replaced_field_gets_no_outlines(qtbot, make_window, smear_dir, tmp_path) -> None:
    """Item 8: a field replaced after analysis (same name and size) got the old outlines."""
    files = []
    for p in sorted(smear_dir.glob("*.png"))[:2]:
        files.append(tmp_path / p.name)
        shutil.copy(p, files[-1])
    window = _analysed(qtbot, make_window, files)
    first = str(files[0])
    window.viewer.show_image(first)
    assert window.view.has_image() and window.view.overlay_items()
    window.viewer.show_image(str(files[1]))
    cv2.imwrite(str(files[0]), 255 - cv2.imread(str(files[0])))  # same name, same size, other pixels
    display = getattr(window.viewer, "display", None)  # decoded-image cache: its pixels are the analysed ones
    if display is not None:
        display.forget()
    else:
        window.viewer._image_cache = None
    window.viewer.show_image(first)
    assert not window.view.has_image() and not window.view.overlay_items()
    assert "changed since it was analysed" in window.view.placeholder


def test_hostile_session_is_refused_and_figures_stay_the_open_slides(qtbot, make_window, smear_dir, tmp_path):
    """Item 2: a session with rbc_per_ul 0 loaded, the summary raised, the old figures stayed."""
    window = _analysed(qtbot, make_window, [sorted(smear_dir.glob("*.png"))[0]])
    path = window.sessions.save_session_to(tmp_path / "a.mdsession")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["settings"]["rbc_per_ul"] = 0
    data["metadata"]["patient_id"] = "patient B"
    hostile = tmp_path / "b.mdsession"
    hostile.write_text(json.dumps(data), encoding="utf-8")
    shown = [lab.text() for pair in window.summary.rows.values() for lab in pair]
    errors: list[str] = []
    window.errorShown.connect(errors.append)
    assert not window.sessions.open_session(hostile)
    assert errors and "rbc_per_ul" in errors[0]
    assert window.document.metadata.patient_id != "patient B"
    assert [lab.text() for pair in window.summary.rows.values() for lab in pair] == shown


def test_summary_failure_clears_the_panel(qtbot, make_window, smear_dir, monkeypatch) -> None:
    from malaria_desktop.qt.controllers import summary as summary_mod

    window = _analysed(qtbot, make_window, [sorted(smear_dir.glob("*.png"))[0]])
    assert any(lab.text() not in ("", "\u2013", "-") for pair in window.summary.rows.values() for lab in pair)

    def broken(*_args, **_kwargs):
        raise ValueError("cannot compute")

    monkeypatch.setattr(summary_mod, "slide_figures", broken)
    window.figures.update()
    other = make_window()  # the panel now shows what it shows for a slide without results
    assert [lab.text() for pair in window.summary.rows.values() for lab in pair] == [
        lab.text() for pair in other.summary.rows.values() for lab in pair]


def test_dates_are_never_rewritten(qtbot, make_window, tmp_path) -> None:
    """Item 12: an empty or invalid date became today's on save and export."""
    from pathlib import Path

    from malaria_desktop.core.review.session import Session, SessionMetadata, save_session

    window = make_window()
    window.slide_panel.metadata.commit()
    window.document.add_paths([Path("a.png")])
    assert window.document.metadata.date == ""  # a new slide has no date until one is picked
    for date in ("", "12/03/2026", "2026-02-30"):
        session = Session(metadata=SessionMetadata(patient_id="p", date=date), image_paths=[Path("a.png")])
        path = save_session(session, tmp_path / "d.mdsession")
        assert window.sessions.open_session(path)
        window.slide_panel.metadata.patient_id.setText("p2")
        window.slide_panel.metadata.commit()
        saved = window.sessions.save_session_to(tmp_path / "again.mdsession")
        assert load_session(saved).metadata.date == date
    from PySide6.QtCore import QDate

    window.slide_panel.metadata.date.setDate(QDate(2026, 3, 12))  # picking a date does change it
    window.slide_panel.metadata.commit()
    assert window.document.metadata.date == "2026-03-12"


def test_unreadable_sub_folder_is_reported_in_the_window(qtbot, make_window, smear_dir, tmp_path, monkeypatch):
    """Item 13: dropping a folder with an unreadable sub-folder skipped its fields silently."""
    import os

    (tmp_path / "locked").mkdir()
    shutil.copy(sorted(smear_dir.glob("*.png"))[0], tmp_path / "a.png")
    real_scandir = os.scandir

    def scandir(path=".", *args, **kwargs):
        if str(path) == str(tmp_path / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    window = make_window()
    errors: list[str] = []
    window.errorShown.connect(errors.append)
    window.open_paths([tmp_path])
    assert errors and "locked" in errors[0] and "Permission denied" in errors[0]
    wait_idle(qtbot, window)
