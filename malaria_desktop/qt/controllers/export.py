"""Export: write the report folder (``core.report.export``) in a worker thread behind a progress dialog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QProgressDialog

from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.dialogs import ExportDialog
from malaria_desktop.qt.worker import GeneratorRunner


class ExportController(QObject):
    """Owns the Export action; ``exported`` fires with core.report.export's summary when the folder is written."""

    exported = Signal(object)
    _step = Signal(int, int)  # export progress, from the worker thread to the GUI thread

    def __init__(self, ctx: ControllerContext, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = ctx.model  # the loaded model: its uncertain band and card hash go into the FHIR Bundle
        self.document = ctx.document
        self.settings = ctx.settings
        self.actions = actions = ctx.actions
        self.dialog_parent = ctx.dialog_parent
        self.status = ctx.status
        self.show_error = ctx.show_error
        self.commit_metadata = ctx.commit_metadata  # a metadata field being edited is part of the report
        self.progress_dialog: QProgressDialog | None = None
        self._folder = Path()
        self.runner = GeneratorRunner(self)
        self.runner.yielded.connect(self._done)
        self.runner.errored.connect(self._failed)
        self._step.connect(self._progress)
        actions[ActionId.EXPORT].triggered.connect(self.export_dialog)

    def export_dialog(self) -> None:
        dialog = ExportDialog(self.suggested_folder(), self.dialog_parent)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_to(dialog.chosen_folder())

    def suggested_folder(self) -> Path:
        """``<last folder>/<patient>_<slide>_<date>_report``, valid on Windows, macOS and Linux (one component)."""
        from malaria_desktop.core.safe_names import export_folder_name

        meta = self.document.metadata
        name = export_folder_name(meta.patient_id, meta.slide_id, meta.date, default="slide")
        return Path(self.settings.last_dir()) / f"{name}_report"

    def export_to(self, folder: Path) -> int:
        """Write the report folder with core.report.export in the worker thread; ``exported`` fires when done.

        A window-modal progress dialog keeps the session unchanged while it is written (no edits can race
        the export) and the event loop keeps running.
        """
        from malaria_desktop.core.report.export import export_session
        from malaria_desktop.interop.fhir import FHIR_FILE_NAME

        self.commit_metadata()
        session, out = self.document.session, Path(folder)
        dialog = QProgressDialog("Writing the report\u2026", "", 0, max(len(session.results), 1), self.dialog_parent)
        dialog.setCancelButton(None)
        dialog.setWindowTitle("Export report")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.progress_dialog = dialog
        step, fhir = self._step, self._fhir_writer(session)

        def factory(_should_cancel: Callable[[], bool]) -> Any:
            yield export_session(session, out, progress=lambda done, total: step.emit(done, total),
                                 extra_files={FHIR_FILE_NAME: fhir})

        self._folder = out
        return self.runner.start(factory)

    def _fhir_writer(self, session: Any) -> Callable[[Path], Path]:
        """The slide's FHIR Bundle for the folder (``interop.fhir_session``): final once the queues are done."""
        from malaria_desktop.interop.fhir_session import loaded_card_sha256, session_writer

        if self.model is None:
            return session_writer(session)
        band = self.model.band(self.document.threshold, self.settings.uncertain_margin)
        return session_writer(session, (band.low, band.high), loaded_card_sha256(session, self.model.classifier))

    def wait(self, timeout_ms: int) -> bool:
        """Block until a report being written is finished (closing never leaves one half-written)."""
        return self.runner.wait(timeout_ms)

    def _progress(self, done: int, total: int) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.setMaximum(max(total, 1))
            self.progress_dialog.setValue(done)

    def _close_progress(self) -> None:
        dialog, self.progress_dialog = self.progress_dialog, None
        if dialog is not None:
            dialog.close()

    def _done(self, summary: Any) -> None:
        self._close_progress()
        self.settings.set_last_dir(self._folder.parent)
        text = f"Report written to {self._folder}."
        if getattr(summary, "missing_images", None):
            text += f" {len(summary.missing_images)} image file(s) were missing: no annotated picture for them."
        self.status(text, 15000)
        self.exported.emit(summary)

    def _failed(self, message: str, details: str) -> None:
        self._close_progress()
        self.show_error("The report could not be exported", message, details)
