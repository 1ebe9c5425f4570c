"""Loading and analysing images in the window: drag and drop, worker thread, progress, cancel, errors."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from malaria_desktop.core.report.counts import summarise_slide
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.worker import GeneratorRunner
from tests.qt.waits import wait_idle, wait_threads


def drop(widget, paths: list[Path]) -> None:
    """Deliver a real drag-enter + drop of file URLs to ``widget`` (as the OS would)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def copied_fields(smear_dir: Path, folder: Path, n: int) -> list[Path]:
    """``n`` field files for a longer run, cycling through the synthetic smears."""
    fields = sorted(smear_dir.glob("*.png"))
    files = []
    for i in range(n):
        p = folder / f"f{i}.png"
        p.write_bytes(fields[i % len(fields)].read_bytes())
        files.append(p)
    return files


def test_window_shows_menus_shortcuts_and_intended_use(make_window):
    window = make_window()
    assert window.isVisible()
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Analysis", "Review", "Help"]
    assert window.action_map[ActionId.OPEN].shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert window.action_map[ActionId.SAVE].shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    assert window.action_map[ActionId.QUIT].shortcut() == QKeySequence(QKeySequence.StandardKey.Quit)
    assert window.action_map[ActionId.UNDO].shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert window.action_map[ActionId.ZOOM_IN].shortcut() == QKeySequence(QKeySequence.StandardKey.ZoomIn)
    assert "not a certified diagnostic device" in window.intended_use.text()
    assert "Not a certified diagnostic device" in window.summary.footer.text()
    assert window.model_status.text().startswith("Model:")


def test_drop_files_and_folder_analyses_everything(qtbot, make_window, smear_dir, tmp_path):
    window = make_window()
    single = sorted(smear_dir.glob("*.png"))[0]
    drop(window, [single])
    wait_idle(qtbot, window)
    assert [e.state for e in window.document.entries] == ["done"]
    folder = tmp_path / "more"
    (folder / "sub").mkdir(parents=True)
    for i, p in enumerate(sorted(smear_dir.glob("*.png"))[1:]):
        (folder / "sub" / f"copy_{i}.png").write_bytes(p.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    drop(window.view.viewport(), [folder])  # dropping onto the image view works too
    wait_idle(qtbot, window)
    assert [e.path.name for e in window.document.entries] == ["field_0.png", "copy_0.png", "copy_1.png"]
    assert all(e.state == "done" for e in window.document.entries)
    extra = tmp_path / "extra.png"
    extra.write_bytes(single.read_bytes())
    drop(window.slide_panel.metadata.notes.viewport(), [extra])  # a text field does not swallow the file
    wait_idle(qtbot, window)
    assert window.slide_panel.metadata.notes.toPlainText() == ""
    assert window.document.entries[-1].path == extra and window.document.entries[-1].state == "done"
    model = window.slide_panel.list.list_model
    assert model.rowCount() == 4
    assert model.index(1, 1).data() == "Done"
    assert int(model.index(1, 2).data()) == window.document.results[str(folder / "sub" / "copy_0.png")].n_cells


def test_analysis_end_to_end_overlays_and_summary(qtbot, make_window, smear_dir):
    window = make_window()
    with qtbot.waitSignal(window.overlaysDrawn, timeout=30_000):
        window.open_paths([smear_dir])
    wait_idle(qtbot, window)
    key = window.current_key
    result = window.document.result(key)
    assert result.status == "ok" and result.n_cells > 10 and result.n_parasitized > 0
    items = window.view.overlay_items()
    assert len(items) == result.n_cells == window.view.visible_overlay_count()
    assert sum(1 for i in items if i.mark.label == "parasitized") == result.n_parasitized
    expected = summarise_slide(list(window.document.results.values()))
    auto_cells, _ = window.summary.rows["cells"]
    assert auto_cells.text() == f"{expected.rbc_counted:,}"
    assert window.summary.rows["pct"][0].text() == f"{expected.parasitemia_pct:.2f} %"
    assert window.summary.target_bar.value() == min(expected.rbc_counted, 2000)  # cells vs target: one bar
    assert window.progress.value() == window.progress.maximum() == len(window.document.entries)  # images
    assert "Fewer than 500" in window.summary.flags.text()
    # tooltips carry the probability
    assert "P(parasitized) = " in items[0].toolTip()


def test_overlay_toggles(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths([sorted(smear_dir.glob("*.png"))[0]])
    wait_idle(qtbot, window)
    result = window.document.result(window.current_key)
    window.action_map[ActionId.PARASITIZED_ONLY].trigger()
    assert len(window.view.overlay_items()) == result.n_parasitized
    window.action_map[ActionId.PARASITIZED_ONLY].trigger()
    window.action_map[ActionId.OVERLAYS].trigger()
    assert window.view.visible_overlay_count() == 0
    window.action_map[ActionId.OVERLAYS].trigger()
    assert window.view.visible_overlay_count() == result.n_cells
    window.sessions.apply_settings({"threshold": 0.5, "rbc_per_ul": 5_000_000, "hyper_cutoff_pct": 5.0,
                           "target_cells": 2000, "uncertain_margin": 0.5})  # every cell is "uncertain" now
    window.action_map[ActionId.UNCERTAIN_ONLY].trigger()
    assert len(window.view.overlay_items()) == result.n_cells


def test_bad_file_shows_its_error_and_the_rest_finish(qtbot, make_window, smear_dir, tmp_path):
    window = make_window()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a PNG")
    good = sorted(smear_dir.glob("*.png"))[:2]
    window.open_paths([good[0], bad, good[1]])
    wait_idle(qtbot, window)
    states = {e.path.name: e.state for e in window.document.entries}
    assert states == {"field_0.png": "done", "broken.png": "error", "field_1.png": "done"}
    row = window.document.row_of(str(bad))
    text = window.slide_panel.list.list_model.index(row, 1).data()
    assert text == "Error (see below)"
    problems = window.slide_panel.problems
    assert problems.isVisible() and problems.text().startswith("\u2022 broken.png: ")
    assert "could not be read" in window.progress_label.text()
    assert window.current_key == str(good[0])  # a good image is shown, not the broken one


def test_event_loop_keeps_running_during_analysis(qtbot, make_window, smear_dir, tmp_path):
    window = make_window()
    files = copied_fields(smear_dir, tmp_path, 6)
    ticks = {"during": 0}
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.__setitem__("during", ticks["during"] + window.runner.running))
    timer.start()
    main_thread = threading.get_ident()
    seen_threads = set()
    window.runner.result.connect(lambda _r: seen_threads.add(threading.get_ident()))
    window.open_paths(files)
    assert window.runner.running
    wait_idle(qtbot, window)
    timer.stop()
    assert ticks["during"] >= 3, "the GUI thread's timer did not tick while the worker ran"
    assert seen_threads == {main_thread}, "results must be delivered on the GUI thread"


def test_cancel_mid_run_drops_the_rest(qtbot, make_window, smear_dir, tmp_path):
    window = make_window()
    files = copied_fields(smear_dir, tmp_path, 4)

    def on_progress(progress):
        if progress.image_index == 1 and window.runner.running:
            window.analysis.cancel_analysis()

    window.runner.progress.connect(on_progress)
    with qtbot.waitSignal(window.analysisIdle, timeout=30_000):
        window.open_paths(files)
    wait_threads(qtbot, window.runner)
    QApplication.processEvents()
    assert list(window.document.results) == [str(files[0])]  # anything the old run still sent was dropped
    assert [e.state for e in window.document.entries] == ["done", "queued", "queued", "queued"]
    assert window.action_map[ActionId.RESUME].isEnabled() and not window.cancel_button.isVisible()
    window.runner.progress.disconnect(on_progress)
    window.action_map[ActionId.RESUME].trigger()
    wait_idle(qtbot, window)
    assert len(window.document.results) == 4


def test_superseded_run_is_dropped(qtbot):
    """A newer run supersedes an older one: what the old generator yields afterwards never arrives."""
    runner = GeneratorRunner()
    gate = threading.Event()
    received = []
    runner.yielded.connect(received.append)

    def old(_should_cancel):
        yield "old-1"
        gate.wait(10)
        yield "old-2"  # arrives after the new run started: must be dropped

    def new(_should_cancel):
        yield "new-1"

    with qtbot.waitSignal(runner.yielded, timeout=10_000):
        runner.start(old)
    runner.start(new)
    gate.set()
    wait_threads(qtbot, runner)
    QApplication.processEvents()
    assert received == ["old-1", "new-1"]
    runner.shutdown()


def test_worker_error_reaches_the_error_path(qtbot):
    runner = GeneratorRunner()

    def broken(_should_cancel):
        yield 1
        raise RuntimeError("boom")

    with qtbot.waitSignal(runner.errored, timeout=10_000) as blocker:
        runner.start(broken)
    assert "boom" in blocker.args[0] and "Traceback" in blocker.args[1]
    wait_threads(qtbot, runner)
    runner.shutdown()


def test_model_loads_in_background_after_window_appears(qtbot, make_window, tiny_model_dir, smear_dir):
    window = make_window(classifier=None, model_dir=tiny_model_dir)
    assert window.isVisible() and window.classifier is None
    assert window.model_status.text() == "Loading model\u2026"
    window.open_paths([sorted(smear_dir.glob("*.png"))[0]])  # queued until the model is there
    wait_idle(qtbot, window)
    assert window.classifier is not None and len(window.document.results) == 1


def test_missing_model_gives_a_clear_message_and_keeps_the_app_usable(qtbot, make_window, tmp_path, smear_dir):
    window = make_window(classifier=None, model_dir=tmp_path / "no_model_here")
    qtbot.waitUntil(lambda: bool(window.model_error), timeout=10_000)
    assert "does not exist" in window.model_error
    assert "analysis disabled" in window.model_status.text()
    window.open_paths([sorted(smear_dir.glob("*.png"))[0]])
    assert window.document.entries[0].state == "queued"
    assert not window.action_map[ActionId.RESUME].isEnabled()
    assert "Analysis is disabled" in window.progress_label.text() or "queued" in window.progress_label.text()



def test_closing_during_analysis_stops_the_worker(qtbot, make_window, smear_dir):
    window = make_window()
    with qtbot.waitSignal(window.runner.progress, timeout=30_000):
        window.open_paths([smear_dir])
    assert window.runner.running
    window.close()  # cancels and waits for the worker thread: nothing runs on after the window is gone
    assert not window.runner.running and not window.runner._threads
