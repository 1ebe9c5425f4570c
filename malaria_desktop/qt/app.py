"""Application factory and the ``malaria-desktop gui`` entry point.

``create_app`` builds the window with injected parts (a classifier, a settings store) and does not run
the event loop unless asked (pymmcore-gui's ``create_mmgui(exec_app=False)`` habit), so tests build the
real window around a test-made model. ``run_gui`` is what the CLI calls: it installs the one error path
(sys.excepthook -> signal -> message box + log file), opens the window, analyses the files given, and
supports ``--screenshot`` and ``--quit-after`` for smoke tests and pictures.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from malaria_desktop import __version__, paths
from malaria_desktop.qt.main_window import MainWindow
from malaria_desktop.qt.settings import AppSettings

log = logging.getLogger(__name__)
SCREENSHOT_TIMEOUT_MS = 600_000  # give up on a screenshot after 10 minutes (never hang CI)


class ErrorReporter(QObject):
    """Uncaught exceptions from any thread arrive here as a signal, delivered on the GUI thread."""

    error = Signal(str, str, str)  # title, message, details

    def report(self, exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("Uncaught exception:\n%s", details)
        self.error.emit("Unexpected error", f"{exc_type.__name__}: {exc}", details)


def setup_logging() -> Path:
    """Log to ``<user data>/logs/malaria-desktop.log`` (rotated) so errors can be sent to support."""
    folder = paths.user_data_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "malaria-desktop.log"
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_malaria_desktop", False)]:
        if Path(getattr(old, "baseFilename", "")) == path:
            return path
        root.removeHandler(old)  # the data folder changed (tests, MALARIA_DESKTOP_DATA)
        old.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._malaria_desktop = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return path


def install_excepthook(reporter: ErrorReporter) -> None:
    """Route uncaught exceptions (GUI thread and worker threads) to the reporter."""
    sys.excepthook = reporter.report

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        exc = args.exc_value if args.exc_value is not None else args.exc_type()
        reporter.report(args.exc_type, exc, args.exc_traceback)

    threading.excepthook = thread_hook


def application() -> QApplication:
    """The one QApplication (made here on first use); public for benchmarks that drive the window."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Malaria Desktop")
    app.setOrganizationName(paths.APP_NAME)
    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")
    icon = paths.resource_path("icon.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    qss = paths.resource_path("style.qss")
    if qss.is_file() and not app.styleSheet():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    return app


def create_app(classifier: Any = None, model_dir: Path | None = None, settings: AppSettings | None = None,
               exec_app: bool = False) -> MainWindow:
    """Build and show the main window.

    classifier: an already loaded ``core.classification.Classifier`` (tests); None loads ``model_dir`` (None: the
        bundled model) in the background after the window is shown.
    settings: an ``AppSettings`` (tests pass one on a temporary INI file); None uses the user's.
    exec_app: run the event loop until the window closes.
    """
    app = application()
    window = MainWindow(settings or AppSettings(), classifier=classifier, model_dir=model_dir)
    window.show()
    if exec_app:
        app.exec()
    return window


def run_gui(files: list[Path], model_dir: Path | None, screenshot: Path | None = None,
            quit_after: float | None = None) -> int:
    """The ``gui`` command: returns the process exit code."""
    setup_logging()
    app = application()
    reporter = ErrorReporter()
    install_excepthook(reporter)
    window = create_app(model_dir=model_dir)
    reporter.error.connect(window.show_error)
    outcome = {"rc": 0}
    if files:
        window.open_paths([Path(f) for f in files])

    if screenshot is not None:
        shot = Path(screenshot)
        window.showNormal()
        window.resize(1440, 900)  # same picture whatever size the user left the window at

        def take() -> None:
            if window.runner.running or (window.classifier is not None and window.document.pending_paths()):
                return  # a later analysisIdle will come
            if window.classifier is None and not window.model_error:
                return  # model still loading
            app.processEvents()
            shot.parent.mkdir(parents=True, exist_ok=True)
            ok = window.grab().save(str(shot), "PNG")
            log.info("screenshot %s written: %s", shot, ok)
            outcome["rc"] = 0 if ok and not (files and window.model_error) else 1
            if not ok:
                print(f"screenshot: could not write {shot}", file=sys.stderr)
            elif files and window.model_error:
                print(f"screenshot written, but nothing was analysed: {window.model_error}", file=sys.stderr)
            app.exit(outcome["rc"])

        window.analysisIdle.connect(lambda: QTimer.singleShot(100, take))

        def give_up() -> None:
            print(f"screenshot: analysis did not finish within {SCREENSHOT_TIMEOUT_MS // 1000} s", file=sys.stderr)
            app.exit(1)

        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, give_up)
    if quit_after is not None:
        QTimer.singleShot(max(0, int(quit_after * 1000)), lambda: app.exit(0))
    rc = app.exec()
    window.close()
    window.deleteLater()
    app.processEvents()
    return int(rc if screenshot is None else outcome["rc"] if rc == 0 else rc)
