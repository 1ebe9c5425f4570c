"""``pipeline.analyze_images`` in a separate, lower-priority process, relayed back as the same generator.

Why (issue 20): with the analysis in a thread of the window's own process, the window's interpreter and
cores are shared with segmentation and inference; on a loaded 2-core PC (an antivirus scan, another
program busy) the window froze for 0.7-1.4 s at a time. In its own process the analysis never holds the
window's interpreter lock, runs at a lower scheduling priority (``os.nice``) and with one inference
thread fewer than there are cores, so the window keeps a core's share when it needs one.

One worker process is started (``spawn``: no copy of the window's threads) on first use, or ahead of it
with ``start``, and serves every run; a dispatcher thread hands each run's events to that run's queue,
so a superseded run still draining cannot take the next run's results. Cancelling sets a shared run
number that the worker's ``should_cancel`` compares with. If the worker dies, the run ends with an error
and the next run starts a new worker.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import queue
import threading
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

from malaria_desktop.core.errors import AnalysisCancelled, MalariaDesktopError

# How much lower the worker's priority is (MALARIA_DESKTOP_ANALYSIS_NICE overrides). Only matters when
# the cores are busy: then the window's process keeps its share and wakes first. Not more: at +10, two
# busy programs left the analysis ~5 % of the CPU (30 fields took over ten minutes on the 2-core test PC).
NICENESS = 4
POLL_S = 0.05
_DONE, _ITEM, _ERROR = "done", "item", "error"


def inference_threads() -> int:
    """One thread fewer than the cores this process may use (at least one): a core stays for the window."""
    try:
        cores = len(os.sched_getaffinity(0))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _orphaned(parent_pid: int) -> bool:
    """The window's process is gone (killed, crashed): the worker must not live on without it."""
    return os.getppid() != parent_pid


def _tasks_while_parent(tasks: Any, parent_pid: int) -> Iterator[Any]:
    """Tasks until ``None`` or until the parent process dies (polled every second)."""
    while not _orphaned(parent_pid):
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            continue
        if task is None:
            return
        yield task


def _worker_main(tasks: Any, events: Any, cancelled: Any, niceness: int, threads: int, parent_pid: int) -> None:
    """The worker process: runs each task's ``analyze_images`` and puts its events, tagged with the run."""
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # Windows has no nice(); the run goes on at normal priority
        pass
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.pipeline import analyze_images

    events.cancel_join_thread()  # a dead window reads nothing: exit without waiting to flush to it

    loaded: dict[str, Classifier] = {}
    for run_id, paths, model_dir, threshold, segmentation in _tasks_while_parent(tasks, parent_pid):
        try:
            if run_id and cancelled.value >= run_id:  # run 0 is the warm-up: load the model, analyse nothing
                events.put((_DONE, run_id))
                continue
            classifier = loaded.get(str(model_dir))
            if classifier is None:
                loaded.clear()  # one model at a time
                classifier = loaded[str(model_dir)] = Classifier.load(model_dir, threads=threads)
            def should_cancel(run: int = run_id) -> bool:
                return bool(cancelled.value >= run) or _orphaned(parent_pid)

            for item in analyze_images(paths, classifier, threshold=threshold, segmentation=segmentation,
                                       should_cancel=should_cancel):
                events.put((_ITEM, run_id, item))
            events.put((_DONE, run_id))
        except AnalysisCancelled:
            events.put((_DONE, run_id))
        except MalariaDesktopError as exc:
            events.put((_ERROR, run_id, str(exc), ""))
        except Exception as exc:  # noqa: BLE001 - relayed to the window's one error path
            events.put((_ERROR, run_id, f"{type(exc).__name__}: {exc}", traceback.format_exc()))


class AnalysisProcessError(RuntimeError):
    """The worker process failed outside the analysis' own errors (it died, or raised a bug)."""


class AnalysisProcess:
    """A long-lived worker process; ``analyze`` yields what ``analyze_images`` yields, in the caller."""

    def __init__(self, *, niceness: int | None = None, threads: int | None = None) -> None:
        self.niceness = niceness if niceness is not None else int(os.environ.get("MALARIA_DESKTOP_ANALYSIS_NICE",
                                                                                 NICENESS))
        self.threads = threads or inference_threads()
        self._ctx = mp.get_context("spawn")
        self._lock = threading.Lock()
        self._process: Any = None
        self._runs: dict[int, queue.Queue] = {}
        self._next_run = 0
        self._tasks: Any = None
        self._events: Any = None
        self._cancelled: Any = None
        self._warm = ""  # the model folder the worker was last asked to load ahead of time

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self, model_dir: Path | str | None = None) -> None:
        """Start the worker now: it imports OpenCV and ONNX Runtime (and loads ``model_dir``'s model, when
        given) before the first drop, so the first field is not slower than in a thread."""
        with self._lock:
            if not self.alive():
                self._spawn()
            if model_dir is not None and self._warm != str(model_dir):
                self._warm = str(model_dir)
                self._tasks.put((0, [], Path(model_dir), None, None))  # nobody listens to run 0

    def _spawn(self) -> None:
        """A new worker process and its event dispatcher (the lock is held)."""
        self._tasks, self._events = self._ctx.Queue(), self._ctx.Queue()
        self._cancelled = self._ctx.Value("q", 0)
        self._cancelled.value = self._next_run  # runs of a dead worker stay cancelled
        self._warm = ""
        self._process = self._ctx.Process(
            target=_worker_main, name="malaria-analysis",
            args=(self._tasks, self._events, self._cancelled, self.niceness, self.threads, os.getpid()), daemon=True)
        self._process.start()
        threading.Thread(target=self._dispatch, args=(self._process, self._events),
                         name="malaria-analysis-events", daemon=True).start()

    def _dispatch(self, process: Any, events: Any) -> None:
        """Hand each event to its run's queue; when the worker dies, end every waiting run."""
        while True:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                if not process.is_alive():
                    break
                continue
            except (EOFError, OSError):
                break
            with self._lock:
                target = self._runs.get(event[1])
            if target is not None:
                target.put(event)
        with self._lock:
            waiting = list(self._runs.values()) if self._process is process else []
        for target in waiting:
            target.put((_ERROR, -1, "The analysis process stopped unexpectedly.", f"exit code {process.exitcode}"))

    def analyze(self, paths: Iterable[Path | str], model_dir: Path | str, *, threshold: float | None = None,
                segmentation: Any = None, should_cancel: Callable[[], bool] = lambda: False
                ) -> Generator[Any, None, bool]:
        """Yield ``Progress`` and ``ImageResult`` events of one run; returns True when it was cancelled."""
        self.start()
        mine: queue.Queue = queue.Queue()
        with self._lock:
            # Cancelling run r cancels every run <= r (one shared number), so a run superseded before its
            # generator first ran must not take a number after its successor's: it would cancel the newer run
            # when it stops (the slide then stayed "queued" for ever, seen after a model switch under load).
            # The caller sets the old run's cancel flag before it starts the new one, so checking it here,
            # under the lock that hands out numbers, keeps the numbers in the order the runs were wanted.
            if should_cancel():
                return True
            self._next_run += 1
            run_id = self._next_run
            self._runs[run_id] = mine
        finished = False
        try:
            self._tasks.put((run_id, [Path(p) for p in paths], Path(model_dir), threshold, segmentation))
            while True:
                if should_cancel():
                    return True
                try:
                    event = mine.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if event[0] == _ITEM:
                    yield event[2]
                elif event[0] == _DONE:
                    finished = True
                    return False
                else:
                    finished = True
                    message, details = event[2], event[3]
                    if not details:
                        raise MalariaDesktopError(message)
                    raise AnalysisProcessError(f"{message}\n\nIn the analysis process:\n{details}")
        finally:
            if not finished:  # cancelled, or the caller stopped reading: the worker stops too
                self.cancel(run_id)
            with self._lock:
                self._runs.pop(run_id, None)

    def cancel(self, run_id: int | None = None) -> None:
        """Stop ``run_id`` (default: every run started so far) at its next cancel point."""
        with self._lock:
            upto = self._next_run if run_id is None else run_id
            if self._cancelled is not None and self._cancelled.value < upto:
                self._cancelled.value = upto

    def close(self, timeout_s: float = 5.0) -> None:
        """Cancel what runs and end the worker (joined; killed if it does not end in time)."""
        process = self._process
        if process is None:
            return
        self.cancel()
        try:
            self._tasks.put(None)
        except (OSError, ValueError):
            pass
        process.join(timeout_s)
        if process.is_alive():
            process.kill()
            process.join(timeout_s)
        with self._lock:
            self._process = None


_shared: AnalysisProcess | None = None


def shared_process() -> AnalysisProcess:
    """The one worker of this program (every window and test reuses it); closed when the program exits."""
    global _shared
    if _shared is None:
        _shared = AnalysisProcess()
        atexit.register(_shared.close)
    return _shared
