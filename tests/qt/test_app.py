"""The app entry points: run_gui --screenshot / --quit-after, offline guard, one error path, no leaks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from malaria_desktop.qt.app import ErrorReporter, install_excepthook, run_gui, setup_logging
from malaria_desktop.qt.main_window import MainWindow
from tests.qt.waits import wait_idle

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cli_gui_screenshot_writes_png_of_analysed_window(tmp_path, tiny_model_dir, smear_dir):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MALARIA_DESKTOP_DATA=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "malaria_desktop", "gui", str(sorted(smear_dir.glob("*.png"))[0]),
         "--model", str(tiny_model_dir), "--screenshot", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 1000 and image.height() >= 600
    # the field image is drawn (pinkish cells, not the empty dark placeholder) in the middle of the window
    colours = {image.pixelColor(image.width() // 2 + dx, image.height() // 2 + dy).name()
               for dx in range(-200, 200, 20) for dy in range(-150, 150, 20)}
    assert len(colours) > 20


def test_run_gui_quit_after_exits_zero(qtbot, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run_gui installs its own; restore afterwards
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    assert run_gui([], tiny_model_dir, screenshot=None, quit_after=0.3) == 0
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_run_gui_screenshot_in_process(qtbot, tiny_model_dir, smear_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    out = tmp_path / "inproc.png"
    assert run_gui([sorted(smear_dir.glob("*.png"))[1]], tiny_model_dir, screenshot=out) == 0
    assert out.is_file() and out.stat().st_size > 10_000
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_uncaught_exception_reaches_message_box_and_log(qtbot, make_window, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    log_file = setup_logging()
    window = make_window()
    reporter = ErrorReporter()
    install_excepthook(reporter)
    reporter.error.connect(window.show_error)
    with qtbot.waitSignal(window.errorShown, timeout=5_000) as blocker:
        try:
            raise ValueError("something unexpected")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    assert "something unexpected" in blocker.args[0]
    boxes = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window]
    assert boxes, "the error is shown in a message box"
    for box in boxes:
        box.close()
    for handler in __import__("logging").getLogger().handlers:
        handler.flush()
    assert "something unexpected" in log_file.read_text(encoding="utf-8")


def test_network_guard_is_active(no_network):
    """The autouse guard really blocks sockets, so the GUI tests prove the app stays offline."""
    with pytest.raises(AssertionError, match="network connection"):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)
    no_network.clear()


def test_whole_gui_run_opens_no_socket(qtbot, make_window, smear_dir, tmp_path, no_network):
    window = make_window()
    window.open_paths([smear_dir])
    wait_idle(qtbot, window)
    window.document.review.set_label(window.current_key,
                                     window.document.result(window.current_key).cells[0].cell.cell_id,
                                     "parasitized")
    with qtbot.waitSignal(window.exported, timeout=30_000):
        window.export.export_to(tmp_path / "export")
    window.sessions.save_session_to(tmp_path / "s.mdsession")
    assert no_network == []


def test_closed_windows_do_not_leak(qtbot, classifier, settings_file):
    from malaria_desktop.qt.app import create_app
    from malaria_desktop.qt.settings import AppSettings

    for _ in range(2):
        window = create_app(classifier=classifier, settings=AppSettings.at_path(settings_file))
        window.about_dialog()
        window.close()
        window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()]


def test_qt_calls_do_not_leak_singleton_references(qapp):
    """PySide6 6.12.0 on CPython 3.11 stole a reference to None per void call and to True per emit,
    aborting long sessions; the pin in pyproject.toml keeps us on a version without that bug."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        fired = Signal(int)

    emitter = Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2_000):
        QCoreApplication.processEvents()
        emitter.fired.emit(1)
    assert abs(sys.getrefcount(None) - none_before) < 100
    assert abs(sys.getrefcount(True) - true_before) < 100