"""The slide figures on a large slide (issue 11 item 8): refreshed at most every THROTTLE_MS while results
stream in, with one trailing refresh so the last change is always shown; small slides refresh at once."""

from __future__ import annotations

from malaria_desktop.qt.controllers import summary as summary_mod
from tests.qt.waits import wait_idle


def _analysed(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths(sorted(smear_dir.glob("*.png"))[:1])
    wait_idle(qtbot, window)
    refreshes: list[int] = []
    real = window.figures._update
    window.figures._update = lambda *args, **kwargs: (refreshes.append(1), real(*args, **kwargs))[1]
    return window, refreshes


def test_small_slide_refreshes_on_every_change(qtbot, make_window, smear_dir) -> None:
    window, refreshes = _analysed(qtbot, make_window, smear_dir)
    for _ in range(3):
        window.document.countsChanged.emit()
    assert len(refreshes) == 3


def test_large_slide_refreshes_at_most_every_interval_and_shows_the_last_change(
        qtbot, make_window, smear_dir, monkeypatch) -> None:
    monkeypatch.setattr(summary_mod, "THROTTLE_FROM_IMAGES", 1)  # this one-image slide counts as large
    monkeypatch.setattr(summary_mod, "THROTTLE_MS", 300)
    window, refreshes = _analysed(qtbot, make_window, smear_dir)
    qtbot.wait(350)  # the analysis' own refreshes are over
    window.document.countsChanged.emit()
    assert len(refreshes) == 1  # nothing refreshed lately: at once
    for _ in range(5):
        window.document.countsChanged.emit()
    assert len(refreshes) == 1  # within the interval: waiting
    qtbot.waitUntil(lambda: len(refreshes) == 2, timeout=5_000)  # one trailing refresh for all five
    qtbot.wait(400)
    assert len(refreshes) == 2
