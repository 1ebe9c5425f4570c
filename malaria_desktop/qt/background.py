"""Worker threads of the window that give way to its GUI thread when the CPUs are busy.

Why (issue 20): with two CPU-bound programs on a 2-core PC, the window's longest stalls were its GUI thread
waiting for a CPU (``benchmarks.gui_review --stall-stacks``: ~160 of ~245 ms), and its own helper threads
(the slide estimate's interval, the gallery's thumbnails) competed for the same CPUs at the same priority.
On Linux the nice value is per thread, so a helper lowers its own priority and the GUI thread goes first;
on an idle machine this changes nothing. Elsewhere the threads run as before.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

BACKGROUND_NICE = 4  # how much lower a helper thread's priority is than the window's


def lower_this_thread(step: int | None = None) -> None:
    """Lower the calling thread's scheduling priority by ``step`` (default ``BACKGROUND_NICE``, or
    MALARIA_DESKTOP_HELPER_NICE; Linux; best effort, never raises)."""
    if step is None:
        try:
            step = int(os.environ.get("MALARIA_DESKTOP_HELPER_NICE", BACKGROUND_NICE))
        except ValueError:
            step = BACKGROUND_NICE
    if step <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + step))
    except (OSError, AttributeError):  # not permitted, or no such call: the thread keeps its priority
        pass


def background_pool(name: str) -> ThreadPoolExecutor:
    """One worker thread at a lower priority than the GUI thread, for work the window does not wait on."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=lower_this_thread)
