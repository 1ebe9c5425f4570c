"""Field images for display are decoded ahead of need off the GUI thread, and only for the analysed file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.errors import ImageChangedError
from malaria_desktop.core.image_io import file_sha256
from malaria_desktop.qt.display_cache import DisplayCache


def test_prefetch_then_load_is_a_cache_hit_and_checks_the_content(qtbot, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), np.full((30, 40, 3), 120, np.uint8))
    cache = DisplayCache(size=2)
    with qtbot.waitSignal(cache.ready, timeout=10_000) as sig:
        cache.prefetch(str(path))
    assert sig.args == [str(path)]
    import malaria_desktop.qt.display_cache as module

    calls = []
    monkeypatch.setattr(module, "decode", lambda *a, **k: calls.append(a) or pytest.fail("decoded again"))
    image = cache.load(str(path), file_sha256(path))  # the analysed content: served from the cache
    assert image.width() == 40 and not calls
    monkeypatch.undo()
    cv2.imwrite(str(path), np.full((30, 50, 3), 10, np.uint8))  # the file changed after the analysis
    with pytest.raises(ImageChangedError):
        cache.load(str(path), "0" * 64)
    cache.shutdown()


def test_lru_keeps_the_newest(qtbot, tmp_path: Path) -> None:
    cache = DisplayCache(size=2)
    for i in range(3):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), np.full((10, 10 + i, 3), 50, np.uint8))
        cache.load(str(p))
    assert cache.get(str(tmp_path / "0.png")) is None and cache.get(str(tmp_path / "2.png")) is not None
    cache.shutdown()


def test_load_waits_for_the_prefetch_in_flight_instead_of_decoding_twice(qtbot, tmp_path: Path, monkeypatch) -> None:
    """Issue 20: a quick Ctrl+PgDown walk reached images whose prefetch was running (or done, its delivery
    still queued) and decoded them a second time on the GUI thread."""
    import threading

    import malaria_desktop.qt.display_cache as module

    path = tmp_path / "f.png"
    cv2.imwrite(str(path), np.full((30, 40, 3), 120, np.uint8))
    real, calls, started, release = module.decode, [], threading.Event(), threading.Event()

    def slow_decode(key, digest=""):
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        return real(key, digest)

    monkeypatch.setattr(module, "decode", slow_decode)
    cache = DisplayCache(size=2)
    cache.prefetch(str(path))
    assert started.wait(10)  # the background decode is running
    threading.Timer(0.2, release.set).start()
    image = cache.load(str(path), file_sha256(path))  # no event loop in between: the delivery is not in yet
    assert image.width() == 40 and len(calls) == 1 and calls[0].startswith("display-decode")
    with qtbot.waitSignal(cache.ready, timeout=10_000):
        pass  # the queued delivery still arrives and changes nothing
    assert cache.get(str(path)) is not None
    cache.shutdown()
