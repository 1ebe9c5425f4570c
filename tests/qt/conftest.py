"""Qt test fixtures: isolated user data + settings per test, no network, no leaked windows, a test model."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(autouse=True)
def isolated_user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Autosave, logs and default settings go to a fresh folder for every test."""
    data = tmp_path / "user_data"
    monkeypatch.setenv("MALARIA_DESKTOP_DATA", str(data))
    return data


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any outgoing connection during a GUI test is recorded and fails the test (the app is offline)."""
    attempts: list[str] = []

    def refuse(_self_or_addr, *args, **kwargs):
        attempts.append(repr(args[:1] or _self_or_addr))
        raise NetworkUsed("the app tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", lambda self, *a, **k: refuse(self, *a, **k))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, *a, **k: refuse(self, *a, **k))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(*a, **k))
    yield attempts
    assert not attempts, f"network connection attempted: {attempts}"


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp: QApplication):
    """Every test starts and ends without a main window or dialog left open by an earlier test."""
    from malaria_desktop.qt.main_window import MainWindow

    _flush_deletes()
    before = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) or w.isVisible()]
    assert not before, f"widgets leaked from an earlier test: {before}"
    yield


@pytest.fixture(scope="session")
def classifier(tiny_model_dir: Path):
    from malaria_desktop.core.classification.classifier import Classifier

    return Classifier.load(tiny_model_dir)


@pytest.fixture(scope="session")
def smear_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small synthetic fields with parasitized cells (ground truth is not needed by GUI tests)."""
    from malaria_desktop.core.synthetic import write_synthetic_smear

    folder = tmp_path_factory.mktemp("smears")
    for i in range(3):
        write_synthetic_smear(folder / f"field_{i}.png", seed=10 + i, width=640, height=480,
                              parasitized_fraction=0.15)
    return folder


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def make_window(qtbot, classifier, settings_file: Path):
    """Factory: a real main window around the tiny model, closed and deleted after the test."""
    from malaria_desktop.qt.app import create_app
    from malaria_desktop.qt.settings import AppSettings

    windows = []

    def make(**kwargs):
        kwargs.setdefault("classifier", classifier)
        kwargs.setdefault("settings", AppSettings.at_path(settings_file))
        window = create_app(**kwargs)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()

