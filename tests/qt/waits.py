"""Waiting helpers for Qt tests (no sleeps: they poll the event loop via qtbot)."""

# A ceiling that catches a hang, not a speed check: the analysis runs in a process 4 nice steps below the
# window (core/analysis_process.py), so on a machine busy with other CPU-bound programs its share shrinks
# (a CI loop beside a benchmark's two CPU hogs took a 6-field re-analysis past 60 s, twice in four runs).
ANALYSIS_TIMEOUT_MS = 180_000


def wait_idle(qtbot, window, timeout: int = ANALYSIS_TIMEOUT_MS) -> None:
    """Wait until no analysis runs, nothing is queued and the slide estimate's interval is shown."""
    qtbot.waitUntil(lambda: not window.runner.running and not window.document.pending_paths()
                    and not window.figures.pending, timeout=timeout)


def wait_threads(qtbot, runner, timeout: int = ANALYSIS_TIMEOUT_MS) -> None:
    """Wait until every worker thread (also cancelled ones) has ended."""
    qtbot.waitUntil(lambda: not runner._threads, timeout=timeout)
