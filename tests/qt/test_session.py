"""Sessions in the window: save -> reopen gives the same state, autosave, moved images, settings, recent list."""

from __future__ import annotations

import shutil

from PySide6.QtWidgets import QApplication, QPushButton

from malaria_desktop.core.review.session import load_session
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.settings import AppSettings
from tests.qt.waits import wait_idle


def analysed_window(qtbot, make_window, files):
    window = make_window()
    window.open_paths(files)
    wait_idle(qtbot, window)
    return window


def edit_some(window):
    key = window.current_key
    result = window.document.result(key)
    cell = next(c for c in result.cells if c.label == "uninfected")
    window.view.select_cell(cell.cell.cell_id)
    window.action_map[ActionId.MARK_PARASITIZED].trigger()
    window.document.review.add_cell(key, (5, 5, 30, 30), "uninfected")
    meta = window.slide_panel.metadata
    meta.patient_id.setText("P-001")
    meta.slide_id.setText("S-9")
    meta.operator.setText("AB")
    meta.notes.setPlainText("thin film, field 1-2")
    meta.commit()
    return key, cell


def test_save_and_reopen_gives_the_same_state(qtbot, make_window, smear_dir, tmp_path):
    files = sorted(smear_dir.glob("*.png"))[:2]
    window = analysed_window(qtbot, make_window, files)
    key, cell = edit_some(window)
    path = window.sessions.save_session_to(tmp_path / "slide.mdsession")
    assert path is not None and path.is_file()
    summary_before = [lab.text() for pair in window.summary.rows.values() for lab in pair]
    counts_before = window.document.counts()
    window.close()

    other = make_window()
    assert other.sessions.open_session(path)
    assert other.document.metadata.patient_id == "P-001"
    assert other.slide_panel.metadata.patient_id.text() == "P-001"
    assert other.slide_panel.metadata.notes.toPlainText() == "thin film, field 1-2"
    assert other.document.counts() == counts_before
    assert other.document.review.label_of(key, cell) == "parasitized"
    assert [e.state for e in other.document.entries] == ["done", "done"]
    assert [lab.text() for pair in other.summary.rows.values() for lab in pair] == summary_before
    assert other.current_key == key and len(other.view.overlay_items()) == window.document.result(key).n_cells + 1
    assert str(path) in other.settings.recent_sessions()
    assert [a.text() for a in other.recent_menu.actions()][0] == "slide.mdsession"


def test_autosave_written_after_an_edit(qtbot, make_window, smear_dir):
    window = analysed_window(qtbot, make_window, [sorted(smear_dir.glob("*.png"))[0]])
    with qtbot.waitSignal(window.autosaved, timeout=10_000):  # the debounced QTimer fires, no sleep
        edit_some(window)
    saved = load_session(window.sessions.store.path)
    assert saved.review.edits_count == 2
    assert saved.metadata.patient_id == "P-001"


def test_close_flushes_autosave_and_next_start_offers_recovery(qtbot, make_window, smear_dir):
    window = analysed_window(qtbot, make_window, [sorted(smear_dir.glob("*.png"))[0]])
    edit_some(window)
    window.close()  # before the autosave timer fired
    closed = window.sessions.store.folder / "closed" / window.sessions.store.path.name
    assert load_session(closed).review.edits_count == 2
    again = make_window()
    assert again.sessions.recovery_box is None  # a clean close is no crash: no prompt, but the menu offers it
    assert again.action_map[ActionId.RECOVER].isEnabled()
    again.sessions.recover_autosave()
    assert again.document.review.edits_count == 2
    assert again.document.metadata.slide_id == "S-9"


def test_moved_images_are_reported_not_fatal(qtbot, make_window, smear_dir, tmp_path):
    src = tmp_path / "images"
    src.mkdir()
    files = []
    for p in sorted(smear_dir.glob("*.png"))[:2]:
        files.append(src / p.name)
        shutil.copy(p, files[-1])
    window = analysed_window(qtbot, make_window, files)
    edit_some(window)
    path = window.sessions.save_session_to(tmp_path / "s.mdsession")
    window.close()
    moved = tmp_path / "moved"
    shutil.move(str(src), str(moved))

    other = make_window()
    assert other.sessions.open_session(path)
    assert [e.state for e in other.document.entries] == ["missing", "missing"]
    assert other.sessions.missing_box.isVisible() and "2 image file(s)" in other.sessions.missing_box.text()
    assert other.document.counts().total.reviewed_parasitized > 0  # the results are kept
    other.sessions.missing_box.close()
    assert other.action_map[ActionId.LOCATE].isEnabled()
    assert other.sessions.locate_moved_images(moved) == 2
    assert not other.action_map[ActionId.LOCATE].isEnabled()
    assert other.current_key == str(moved / files[0].name) and other.view.overlay_items()
    assert [e.state for e in other.document.entries] == ["done", "done"]
    assert other.document.review.edits_count == 2


def test_damaged_session_shows_an_error(qtbot, make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "bad.mdsession"
    bad.write_text("{not json", encoding="utf-8")
    with qtbot.waitSignal(window.errorShown, timeout=5_000) as blocker:
        assert not window.sessions.open_session(bad)
    assert "damaged" in blocker.args[0]
    for w in QApplication.topLevelWidgets():
        if w is not window and w.isVisible():
            w.close()


def test_settings_persist_and_apply(qtbot, make_window, smear_dir, settings_file):
    window = analysed_window(qtbot, make_window, [sorted(smear_dir.glob("*.png"))[0]])
    auto_par = window.document.result(window.current_key).n_parasitized
    window.sessions.apply_settings({"threshold": 0.999, "rbc_per_ul": 4_500_000, "hyper_cutoff_pct": 2.0,
                           "target_cells": 1000, "uncertain_margin": 0.1})
    assert window.document.result(window.current_key).n_parasitized <= auto_par
    assert window.summary.target_bar.maximum() == 1000
    window.close()
    stored = AppSettings.at_path(settings_file)
    assert stored.threshold(0.5) == 0.999 and stored.rbc_per_ul == 4_500_000
    assert stored.hyper_cutoff_pct == 2.0 and stored.target_cells == 1000 and stored.uncertain_margin == 0.1
    fresh = make_window()
    assert fresh.document.threshold == 0.999
    assert fresh.document.session.settings["target_cells"] == 1000
    fresh.sessions.apply_settings({"threshold": fresh.classifier.card.threshold, "rbc_per_ul": 5_000_000,
                          "hyper_cutoff_pct": 5.0, "target_cells": 2000})
    assert not AppSettings.at_path(settings_file).has_custom_threshold()  # back to the model card's value


def test_about_dialog_shows_model_card_and_intended_use(qtbot, make_window):
    window = make_window()
    dialog = window.about_dialog()
    text = dialog.text.toPlainText()
    assert window.classifier.card.name in text and window.classifier.card.architecture in text
    assert "Not a certified diagnostic device" in text
    dialog.close()


def test_settings_dialog_round_trip(qtbot):
    from malaria_desktop.qt.dialogs import SettingsDialog

    dialog = SettingsDialog(threshold=0.42, model_threshold=0.5, rbc_per_ul=5_000_000, hyper_cutoff_pct=5.0,
                            target_cells=2000, uncertain_margin=0.15)
    qtbot.addWidget(dialog)
    assert dialog.values() == {"threshold": 0.42, "rbc_per_ul": 5_000_000, "hyper_cutoff_pct": 5.0,
                               "target_cells": 2000, "uncertain_margin": 0.15}
    dialog.hyper.setValue(10.0)
    dialog.target.setValue(500)
    reset = next(b for b in dialog.findChildren(QPushButton) if "model" in b.text())
    reset.click()
    values = dialog.values()
    assert values["threshold"] == 0.5 and values["hyper_cutoff_pct"] == 10.0 and values["target_cells"] == 500


def test_results_are_autosaved_after_the_run(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths([smear_dir])
    wait_idle(qtbot, window)
    with qtbot.waitSignal(window.autosaved, timeout=10_000):  # ~1 s after the run ended
        pass
    assert len(load_session(window.sessions.store.path).results) == 3
