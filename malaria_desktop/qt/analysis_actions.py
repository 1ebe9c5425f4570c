"""Analysis glue for the main window: start/cancel runs of the worker, relay progress and results.

The engine is ``core.pipeline.analyze_images``; ``worker.AnalysisRunner`` relays it from a QThread. This
mixin only decides *what* to analyse (the document's queued images) and shows progress vs the target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot

from malaria_desktop.core.results import ImageResult, Progress

if TYPE_CHECKING:
    from malaria_desktop.qt.main_window import MainWindow


class AnalysisMixin:
    """Mixed into MainWindow (needs ``document``, ``runner``, ``classifier``, ``slide_panel``, progress widgets)."""

    def start_pending(self: "MainWindow") -> None:
        """Analyse every queued image (a running analysis is superseded and restarted with them)."""
        pending = self.document.pending_paths()
        if not pending:
            self.update_actions()
            if self.classifier is not None and not self.runner.running:
                self.analysisIdle.emit()
            return
        if self.classifier is None:
            why = self.model_error or "Waiting for the model to load\u2026"
            self.progress_label.setText(f"{len(pending)} image(s) queued. {why}")
            self.update_actions()
            return
        self.runner.start_analysis(pending, self.classifier, threshold=self.document.threshold)
        self.cancel_button.setVisible(True)
        self._update_progress(None)
        self.update_actions()

    def cancel_analysis(self: "MainWindow") -> None:
        if not self.runner.running:
            return
        self.runner.cancel()

    @Slot(object)
    def _on_progress(self: "MainWindow", progress: Progress) -> None:
        self.document.mark_progress(progress)
        self._update_progress(progress)

    @Slot(object)
    def _on_result(self: "MainWindow", result: ImageResult) -> None:
        self.document.set_result(result)
        key = str(result.path)
        current = self.document.entry(self.current_key) if self.current_key else None
        if result.status == "ok" and self.current_key == key:
            self.show_image(key, force=True)  # the image on screen got its cells: draw them
        elif result.status == "ok" and (current is None or current.state != "done"):
            self.slide_panel.list.select_key(key)  # show the first good image as soon as it is ready
            if self.current_key != key:
                self.show_image(key)
        elif self.current_key is None:
            self.slide_panel.list.select_key(key)
        self._update_progress(None)
        self.update_actions()

    @Slot()
    def _on_run_finished(self: "MainWindow") -> None:
        self.document.requeue_interrupted()
        self.cancel_button.setVisible(False)
        if not self.document.is_empty():
            self._schedule_autosave()  # the last results are saved ~1 s after the run ends
        done = [e for e in self.document.entries if e.state in ("done", "error")]
        errors = sum(1 for e in done if e.state == "error")
        left = len(self.document.pending_paths())
        text = f"Analysed {len(done) - errors} of {len(self.document.entries)} images"
        if errors:
            text += f"; {errors} could not be read (see the list)"
        if left:
            text += f"; {left} not analysed (Analysis \u25b8 Analyse Remaining Images)"
        self.progress_label.setText(text + ".")
        self.update_actions()
        if not self.runner.running:
            self.analysisIdle.emit()

    def _update_progress(self: "MainWindow", progress: Progress | None) -> None:
        counted = self.document.counts().total.auto_cells
        if progress is not None and progress.stage == "classifying":
            counted += progress.cells_done
        target = int(self.document.session.settings.get("target_cells", self.settings.target_cells))
        self.progress.setMaximum(max(target, 1))
        self.progress.setValue(min(counted, target))
        self.progress.setFormat(f"{counted:,} / {target:,} cells counted")
        if progress is not None and self.runner.running:
            self.progress_label.setText(
                f"Analysing image {progress.image_index + 1} of {progress.n_images}: {progress.path.name}")
