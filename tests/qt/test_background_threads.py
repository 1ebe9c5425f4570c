"""Issue 20: the window's helper threads (slide estimate, thumbnails) run below the GUI thread's priority, so
on a busy PC the GUI thread gets the CPU first (on Linux, where the nice value is per thread)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from malaria_desktop.qt.background import BACKGROUND_NICE, background_pool


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_helper_thread_runs_below_the_calling_threads_priority() -> None:
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pool = background_pool("test-helper")
    try:
        helper = pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result(10)
    finally:
        pool.shutdown(wait=True)
    assert helper == min(19, mine + BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller keeps its own
