"""Relays a core generator from a QThread to the GUI thread (superqt GeneratorWorker habit).

The worker only relays: every ``yield`` of the generator becomes a ``yielded`` signal (and is a cancel
point, because the generator calls ``should_cancel``), an exception becomes ``errored``, the end becomes
``finished``. Each run carries a generation number; the ``AnalysisRunner`` drops anything from a run that
was cancelled or superseded (ndv's generation counter), so stale results can never reach the widgets.
Widgets are never touched from the worker thread: all signals are delivered queued to GUI-thread slots.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from malaria_desktop.core.errors import AnalysisCancelled, MalariaDesktopError

log = logging.getLogger(__name__)

GeneratorFactory = Callable[[Callable[[], bool]], Iterable[Any]]


class _Relay(QObject):
    """Lives in the worker thread; iterates the generator and emits what it yields."""

    yielded = Signal(int, object)
    errored = Signal(int, str, str)  # generation, message for the user, traceback for the log
    done = Signal(int)

    def __init__(self, factory: GeneratorFactory, generation: int, cancel: threading.Event) -> None:
        super().__init__()
        self._factory = factory
        self._generation = generation
        self._cancel = cancel

    @Slot()
    def run(self) -> None:
        try:
            iterator: Iterator[Any] = iter(self._factory(self._cancel.is_set))
            for item in iterator:
                if self._cancel.is_set():
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                    break
                self.yielded.emit(self._generation, item)
        except AnalysisCancelled:
            pass
        except MalariaDesktopError as exc:  # an expected problem with a message for the user: no traceback
            self.errored.emit(self._generation, str(exc), "")
        except Exception as exc:  # noqa: BLE001 - relayed to the one error path, never swallowed
            self.errored.emit(self._generation, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            self.done.emit(self._generation)


class GeneratorRunner(QObject):
    """Runs one generator at a time in a QThread; newer runs supersede older ones.

    Signals carry only items of the current generation: ``yielded(item)``, ``errored(message, details)``,
    ``finished()`` (the current run ended, whether normally, by error, or cancelled).
    """

    yielded = Signal(object)
    errored = Signal(str, str)
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._cancel: threading.Event | None = None
        self._running = False
        self._threads: dict[int, tuple[QThread, _Relay]] = {}

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def running(self) -> bool:
        return self._running

    def start(self, factory: GeneratorFactory) -> int:
        """Cancel whatever runs (silently: it is superseded) and start ``factory(should_cancel)``."""
        self._stop_current(announce=False)
        self._generation += 1
        generation = self._generation
        cancel = threading.Event()
        self._cancel = cancel
        thread = QThread()
        thread.setObjectName(f"malaria-worker-{generation}")
        relay = _Relay(factory, generation, cancel)
        relay.moveToThread(thread)
        relay.yielded.connect(self._on_yielded)
        relay.errored.connect(self._on_errored)
        relay.done.connect(self._on_done)
        thread.started.connect(relay.run)
        self._threads[generation] = (thread, relay)
        self._running = True
        thread.start()
        return generation

    def cancel(self) -> None:
        """Ask the running generator to stop; anything it still yields is dropped."""
        self._stop_current(announce=True)

    def _stop_current(self, announce: bool) -> None:
        if self._cancel is not None:
            self._cancel.set()
        if self._running:
            self._running = False
            self._generation += 1  # everything still in flight belongs to an old generation now
            if announce:
                self.finished.emit()

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until every worker thread has ended (used when the window closes)."""
        ok = True
        for thread, _relay in list(self._threads.values()):
            thread.quit()
            ok = thread.wait(timeout_ms) and ok
        return ok

    def shutdown(self) -> None:
        self.cancel()
        self.wait()
        self._threads.clear()

    @Slot(int, object)
    def _on_yielded(self, generation: int, item: object) -> None:
        if generation == self._generation:
            self.yielded.emit(item)

    @Slot(int, str, str)
    def _on_errored(self, generation: int, message: str, details: str) -> None:
        if details:
            log.error("worker error (generation %s): %s\n%s", generation, message, details)
        else:
            log.warning("worker stopped (generation %s): %s", generation, message)
        if generation == self._generation:
            self.errored.emit(message, details)

    @Slot(int)
    def _on_done(self, generation: int) -> None:
        pair = self._threads.pop(generation, None)
        if pair is not None:
            thread, relay = pair
            thread.quit()
            thread.wait()
            relay.deleteLater()
            thread.deleteLater()
        if generation == self._generation and self._running:
            self._running = False
            self.finished.emit()


def analysis_in_process() -> bool:
    """Analyse in a separate worker process (default) or, with ``MALARIA_DESKTOP_ANALYSIS=thread``, in a
    thread of the window's process (a diagnosis switch, and the before/after of the stall benchmark)."""
    return os.environ.get("MALARIA_DESKTOP_ANALYSIS", "process").strip().lower() != "thread"


class AnalysisRunner(GeneratorRunner):
    """Relays ``core.pipeline.analyze_images``: Progress items -> ``progress``, ImageResult -> ``result``.

    The analysis itself runs in ``core.analysis_process``'s worker process (lower priority, its own
    interpreter): the window's interpreter only unpickles the events (issue 20). A classifier that is not
    a model folder (a test's stand-in) is run in the thread, as before.
    """

    progress = Signal(object)
    result = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.yielded.connect(self._split)

    @staticmethod
    def _model_dir(classifier: Any) -> Path | None:
        folder = getattr(classifier, "model_dir", None)
        return Path(folder) if isinstance(folder, (str, Path)) and analysis_in_process() else None

    def prewarm(self, classifier: Any) -> None:
        """Start the worker process and load the model there now, so the first drop does not wait for it."""
        model_dir = self._model_dir(classifier)
        if model_dir is not None:
            from malaria_desktop.core.analysis_process import shared_process

            shared_process().start(model_dir)

    def start_analysis(self, paths: list[Path], classifier: Any, *, threshold: float | None = None,
                       segmentation: Any = None) -> int:
        paths = list(paths)
        model_dir = self._model_dir(classifier)

        def factory(should_cancel: Callable[[], bool]) -> Iterable[Any]:
            if model_dir is not None:
                from malaria_desktop.core.analysis_process import shared_process

                return shared_process().analyze(paths, model_dir, threshold=threshold, segmentation=segmentation,
                                                should_cancel=should_cancel)
            from malaria_desktop.core.pipeline import analyze_images

            return analyze_images(paths, classifier, threshold=threshold, segmentation=segmentation,
                                  should_cancel=should_cancel)

        return self.start(factory)

    @Slot(object)
    def _split(self, item: object) -> None:
        from malaria_desktop.core.results import ImageResult, Progress

        if isinstance(item, Progress):
            self.progress.emit(item)
        elif isinstance(item, ImageResult):
            self.result.emit(item)


class ModelLoader(GeneratorRunner):
    """Loads the classifier in the background so the window appears first."""

    loaded = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.yielded.connect(self.loaded)

    def load(self, model_dir: Path | None) -> int:
        def factory(_should_cancel: Callable[[], bool]) -> Iterable[Any]:
            from malaria_desktop.core.classification.classifier import Classifier

            yield Classifier.load(model_dir)

        return self.start(factory)
