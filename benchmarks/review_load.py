"""Load and extra review actions for ``gui_review.py`` (issue 20): CPU hogs, the review keys beyond the
gallery, and the window's own CPU time per result and per key (what the machine's load cannot inflate)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def review_actions(window, pump: Callable[[int], None]) -> dict[str, float]:
    """The other review actions of issue 20, by key: image switches, gallery filters, F3/F4 walks, split."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    ctrl = Qt.KeyboardModifier.ControlModifier
    window.view.setFocus()
    keys = 0
    cpu: list[tuple[float, str]] = []  # GUI-thread CPU ms per key: what the load cannot inflate

    def press(key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        nonlocal keys
        started = time.thread_time()
        QTest.keyClick(QApplication.focusWidget() or window, key, modifier)
        cpu.append(((time.thread_time() - started) * 1000.0, Qt.Key(key).name))
        keys += 1
        pump(15)

    for _ in range(8):
        press(Qt.Key.Key_PageDown, ctrl)  # next image
    for name in ("uncertain", "confirm", "parasitized", "all"):
        started = time.thread_time()
        window.gallery.set_filter(name)
        cpu.append(((time.thread_time() - started) * 1000.0, f"filter {name}"))
        pump(15)
    window.view.setFocus()
    press(Qt.Key.Key_F4)
    for _ in range(10):
        press(Qt.Key.Key_P)
    press(Qt.Key.Key_F3)
    for _ in range(20):
        press(Qt.Key.Key_U)
    press(Qt.Key.Key_S)  # split the cell on screen, undo it
    press(Qt.Key.Key_Z, ctrl)
    worst = max(cpu)
    return {"keys": keys, "cpu_median_ms": sorted(cpu)[len(cpu) // 2][0], "cpu_max_ms": worst[0],
            "cpu_max_what": worst[1]}


def time_results(window) -> list[float]:
    """GUI-thread CPU ms the window spends on each result (signals, figures, lists), filled during the run."""
    cpu: list[float] = []
    original = window.analysis._on_result

    def timed(result) -> None:
        started = time.thread_time()
        original(result)
        cpu.append((time.thread_time() - started) * 1000.0)

    window.runner.result.disconnect(original)
    window.runner.result.connect(timed)
    return cpu


def start_hogs(n: int) -> list:
    """``n`` CPU-bound processes (a clinic PC's antivirus scan or another busy program)."""
    import subprocess

    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
