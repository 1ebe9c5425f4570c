"""Start and cancel runs of the worker, relay its progress and results into the document.

The engine is ``core.pipeline.analyze_images``; ``worker.AnalysisRunner`` relays it from a QThread. This
controller only decides *what* to analyse (the document's queued images) and shows progress vs the target.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, Signal, Slot

from malaria_desktop.core.results import ImageResult, Progress
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext, Viewer
from malaria_desktop.qt.plain_text import shown_name
from malaria_desktop.qt.worker import AnalysisRunner


class ProgressView(Protocol):
    def show_images(self, done: int, total: int) -> None: ...
    def set_text(self, text: str, *, wrap: bool = False) -> None: ...
    def set_cancel_visible(self, visible: bool) -> None: ...


class AnalysisController(QObject):
    """Owns the Resume and Cancel actions and the runner's result/progress slots."""

    idle = Signal()  # no analysis running and nothing queued that could run
    runFinished = Signal()  # a run ended (or was superseded) and the slide is not empty: worth autosaving
    stateChanged = Signal()  # running/queued state changed: actions may need enabling

    def __init__(self, ctx: ControllerContext, runner: AnalysisRunner, viewer: Viewer, progress: ProgressView, *,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.document = ctx.document
        self.runner = runner
        self.model = ctx.model
        self.viewer = viewer
        self.progress = progress
        self.actions = actions = ctx.actions
        self.default_target = lambda: ctx.settings.target_cells
        actions[ActionId.RESUME].triggered.connect(self.start_pending)
        actions[ActionId.CANCEL].triggered.connect(self.cancel_analysis)
        runner.progress.connect(self._on_progress)
        runner.result.connect(self._on_result)
        runner.finished.connect(self._on_run_finished)

    def start_pending(self) -> None:
        """Analyse every queued image (a running analysis is superseded and restarted with them)."""
        pending = self.document.pending_paths()
        if not pending:
            self.stateChanged.emit()
            if self.model.classifier is not None and not self.runner.running:
                self.idle.emit()
            return
        if self.model.classifier is None:
            why = self.model.error or "Waiting for the model to load\u2026"
            self.progress.set_text(f"{len(pending)} image(s) queued. {why}")
            self.stateChanged.emit()
            return
        self.runner.start_analysis(pending, self.model.classifier, threshold=self.document.threshold)
        self.progress.set_cancel_visible(True)
        self.update_progress(None)
        self.stateChanged.emit()

    def cancel_analysis(self) -> None:
        if self.runner.running:
            self.runner.cancel()

    def update_progress(self, progress: Progress | None) -> None:
        """Images analysed in the strip's bar; cells vs the target are the summary panel's (one bar each)."""
        done = sum(1 for e in self.document.entries if e.state in ("done", "error"))
        self.progress.show_images(done, len(self.document.entries))
        if progress is not None and self.runner.running:
            self.progress.set_text(
                f"Analysing image {progress.image_index + 1} of {progress.n_images}: "
                f"{shown_name(progress.path.name)}")

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        self.document.mark_progress(progress)
        self.update_progress(progress)
        current = self.document.entry(self.viewer.current_key) if self.viewer.current_key else None
        prefetch = getattr(self.viewer, "prefetch", None)
        if progress.stage == "segmenting" and prefetch is not None and (current is None or current.state != "done"):
            prefetch(str(progress.path))  # shown when its result comes: decode it meanwhile, off the GUI thread

    @Slot(object)
    def _on_result(self, result: ImageResult) -> None:
        self.document.set_result(result)
        key = str(result.path)
        current_key = self.viewer.current_key
        current = self.document.entry(current_key) if current_key else None
        if result.status == "ok" and current_key == key:
            self.viewer.show_image(key, force=True)  # the image on screen got its cells: draw them
        elif result.status == "ok" and (current is None or current.state != "done"):
            self.viewer.select_key(key)  # show the first good image as soon as it is ready
            if self.viewer.current_key != key:
                self.viewer.show_image(key)
        elif current_key is None:
            self.viewer.select_key(key)
        self.update_progress(None)
        self.stateChanged.emit()

    @Slot()
    def _on_run_finished(self) -> None:
        self.document.requeue_interrupted()
        self.progress.set_cancel_visible(False)
        if not self.document.is_empty():
            self.runFinished.emit()  # the last results are saved ~1 s after the run ends
        done = [e for e in self.document.entries if e.state in ("done", "error")]
        errors = sum(1 for e in done if e.state == "error")
        left = len(self.document.pending_paths())
        text = f"Analysed {len(done) - errors} of {len(self.document.entries)} images"
        if errors:
            text += f"; {errors} could not be read (see the list)"
        if left:
            text += f"; {left} not analysed (Analysis \u25b8 Analyse Remaining Images)"
        self.progress.set_text(text + ".")
        self.stateChanged.emit()
        if not self.runner.running:
            self.idle.emit()
