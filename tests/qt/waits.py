"""Waiting helpers for Qt tests (no sleeps: they poll the event loop via qtbot)."""

ANALYSIS_TIMEOUT_MS = 60_000


def wait_idle(qtbot, window, timeout: int = ANALYSIS_TIMEOUT_MS) -> None:
    """Wait until no analysis runs, nothing is queued and the slide estimate's interval is shown."""
    qtbot.waitUntil(lambda: not window.runner.running and not window.document.pending_paths()
                    and not window.figures.pending, timeout=timeout)


def wait_threads(qtbot, runner, timeout: int = ANALYSIS_TIMEOUT_MS) -> None:
    """Wait until every worker thread (also cancelled ones) has ended."""
    qtbot.waitUntil(lambda: not runner._threads, timeout=timeout)
