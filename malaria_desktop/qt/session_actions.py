"""Session, autosave, export, settings and about glue for the main window (file formats live in core).

Autosave: every change of the document (re)starts a single-shot QTimer; when it fires the whole session is
written atomically to ``core.session.autosave_path()``. Closing the window flushes it. At start-up the
previous run's autosave is kept aside as ``previous-autosave.mdsession`` and offered by
File ▸ Recover Autosaved Session, so neither closing nor a crash loses work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QProgressDialog

from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.session import (SESSION_SUFFIX, autosave_path, load_session, relocate_images,
                                          save_session)
from malaria_desktop.qt.dialogs import AboutDialog, ExportDialog, SettingsDialog
from malaria_desktop.qt.worker import GeneratorRunner

if TYPE_CHECKING:
    from malaria_desktop.qt.main_window import MainWindow

AUTOSAVE_DELAY_MS = 800
AUTOSAVE_BUSY_DELAY_MS = 5000
SESSION_FILTER = f"Malaria Desktop sessions (*{SESSION_SUFFIX});;All files (*)"
IMAGE_FILTER = "Field images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)"


class _ExportStep(QObject):
    """Carries export progress from the worker thread to the GUI thread."""

    step = Signal(int, int)


def previous_autosave_path() -> Path:
    return autosave_path().with_name(f"previous-autosave{SESSION_SUFFIX}")


class SessionMixin:
    """Mixed into MainWindow."""

    def init_session_support(self: "MainWindow") -> None:
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self.document.modified.connect(self._schedule_autosave)
        self.document.modified.connect(self.update_title)
        self._dirty = False
        self.document.modified.connect(self._mark_dirty)
        current = autosave_path()
        if current.is_file():
            os.replace(current, previous_autosave_path())
        self.act_recover.setEnabled(previous_autosave_path().is_file())
        self.export_runner = GeneratorRunner(self)
        self.export_runner.yielded.connect(self._export_done)
        self.export_runner.errored.connect(self._export_failed)
        self._export_relay = _ExportStep(self)
        self._export_step = self._export_relay.step
        self._export_step.connect(self._export_progress)

    def _schedule_autosave(self: "MainWindow") -> None:
        """Debounce: ~1 s after the last change; while analysing, at most every few seconds (a large slide
        takes a noticeable fraction of a second to write, and results arrive continuously)."""
        if not self.runner.running:
            self._autosave_timer.start(AUTOSAVE_DELAY_MS)
        elif not self._autosave_timer.isActive():
            self._autosave_timer.start(AUTOSAVE_BUSY_DELAY_MS)

    def _mark_dirty(self: "MainWindow") -> None:
        self._dirty = True

    def new_session_settings(self: "MainWindow") -> dict[str, Any]:
        card_threshold = self.classifier.card.threshold if self.classifier is not None else 0.5
        return {"threshold": self.settings.threshold(card_threshold) or card_threshold,
                "rbc_per_ul": self.settings.rbc_per_ul, "hyper_cutoff_pct": self.settings.hyper_cutoff_pct,
                "target_cells": self.settings.target_cells}

    # ------------------------------------------------------------------ autosave
    def autosave_now(self: "MainWindow") -> Path | None:
        self._autosave_timer.stop()
        if self.document.is_empty():
            return None
        try:
            path = save_session(self.document.session, autosave_path())
        except MalariaDesktopError as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 10000)
            return None
        self.autosaved.emit(str(path))
        return path

    def flush_autosave(self: "MainWindow") -> None:
        if self._autosave_timer.isActive():
            self.autosave_now()

    # ------------------------------------------------------------------ files
    def open_images_dialog(self: "MainWindow") -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add field images", self.settings.last_dir(), IMAGE_FILTER)
        if files:
            self.settings.set_last_dir(Path(files[0]).parent)
            self.open_paths([Path(f) for f in files])

    def open_folder_dialog(self: "MainWindow") -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of field images", self.settings.last_dir())
        if folder:
            self.settings.set_last_dir(folder)
            self.open_paths([Path(folder)])

    def new_slide(self: "MainWindow") -> None:
        self.slide_panel.metadata.commit()
        self.flush_autosave()
        self.runner.cancel()
        self.document.new_session(self.new_session_settings(), self.document.session.model)
        self.current_key = None
        self.view.set_image(None)
        self.update_summary()
        self.update_actions()

    def open_session_dialog(self: "MainWindow") -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", self.settings.last_dir(), SESSION_FILTER)
        if path:
            self.open_session(Path(path))

    def open_session(self: "MainWindow", path: Path, *, remember: bool = True) -> bool:
        """Load a session file; images that moved are listed instead of failing the load."""
        try:
            session = load_session(path)
        except MalariaDesktopError as exc:
            self.show_error("The session could not be opened", str(exc))
            return False
        self.runner.cancel()
        self.current_key = None
        self._image_cache = None
        self.view.set_image(None)
        missing = self.document.load(session, path if remember else None)
        if remember:
            self.settings.add_recent_session(path)
            self.update_recent_menu()
        self.update_summary()
        self.update_title()
        self.update_actions()
        if self.document.entries:
            first = next((e.key for e in self.document.entries if e.state == "done"), self.document.entries[0].key)
            self.slide_panel.list.select_key(first)
        if missing:
            names = "\n".join(f"\u2022 {p}" for p in missing[:10]) + ("\n\u2026" if len(missing) > 10 else "")
            box = QMessageBox(QMessageBox.Icon.Information, "Some images have moved",
                              f"{len(missing)} image file(s) of this session are no longer where they were:\n"
                              f"{names}\n\nTheir results and your review are kept. Choose \u201cLocate\u2026\u201d "
                              "to point to the folder they are in now.", QMessageBox.StandardButton.Close, self)
            locate = box.addButton("Locate\u2026", QMessageBox.ButtonRole.ActionRole)
            locate.clicked.connect(self.locate_moved_images)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.show()
            self.missing_box = box
        self.statusBar().showMessage(f"Opened session {Path(path).name}.", 5000)
        self.start_pending()
        return True

    def locate_moved_images(self: "MainWindow", folder: Path | None = None) -> int:
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "Folder that now holds the images")
            if not chosen:
                return 0
            folder = Path(chosen)
        found = relocate_images(self.document.session, folder)
        self.document.load(self.document.session, self.document.session_path)
        self.document.modified.emit()
        first = next((e.key for e in self.document.entries if e.state == "done"), None)
        if first is not None:
            self.slide_panel.list.select_key(first)
        self.statusBar().showMessage(f"Found {len(found)} moved image(s).", 5000)
        return len(found)

    def recover_autosave(self: "MainWindow") -> None:
        path = previous_autosave_path()
        if path.is_file() and self.open_session(path, remember=False):
            self.document.modified.emit()  # becomes the current autosave at once

    def save_session(self: "MainWindow") -> Path | None:
        if self.document.session_path is None or self.document.session_path == previous_autosave_path():
            return self.save_session_as()
        return self.save_session_to(self.document.session_path)

    def save_session_as(self: "MainWindow") -> Path | None:
        meta = self.document.metadata
        name = "_".join(p for p in (meta.patient_id, meta.slide_id) if p) or "slide"
        suggested = str(Path(self.settings.last_dir()) / f"{name}{SESSION_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save session", suggested, SESSION_FILTER)
        if not path:
            return None
        if not path.endswith(SESSION_SUFFIX):
            path += SESSION_SUFFIX
        return self.save_session_to(Path(path))

    def save_session_to(self: "MainWindow", path: Path) -> Path | None:
        self.slide_panel.metadata.commit()
        try:
            save_session(self.document.session, path)
        except MalariaDesktopError as exc:
            self.show_error("The session could not be saved", str(exc))
            return None
        self.document.session_path = Path(path)
        self._dirty = False
        self.settings.add_recent_session(path)
        self.settings.set_last_dir(Path(path).parent)
        self.update_recent_menu()
        self.update_title()
        self.statusBar().showMessage(f"Saved {Path(path).name}.", 5000)
        return Path(path)

    def update_recent_menu(self: "MainWindow") -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_sessions()
        for entry in recent:
            action = self.recent_menu.addAction(Path(entry).name)
            action.setToolTip(entry)
            action.setStatusTip(entry)
            action.triggered.connect(lambda _checked=False, p=entry: self.open_session(Path(p)))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: (self.settings.clear_recent_sessions(),
                                                               self.update_recent_menu()))

    def update_title(self: "MainWindow") -> None:
        meta = self.document.metadata
        who = " \u00b7 ".join(p for p in (meta.patient_id and f"Patient {meta.patient_id}",
                                          meta.slide_id and f"Slide {meta.slide_id}") if p)
        where = self.document.session_path.name if self.document.session_path else "unsaved slide"
        self.setWindowTitle(f"Malaria Desktop \u2013 {who or where}{' *' if self._dirty else ''}")

    # ------------------------------------------------------------------ export
    def export_dialog(self: "MainWindow") -> None:
        meta = self.document.metadata
        name = "_".join(p for p in (meta.patient_id, meta.slide_id) if p) or "report"
        dialog = ExportDialog(Path(self.settings.last_dir()) / f"{name}_report", self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_to(dialog.chosen_folder())

    def export_to(self: "MainWindow", folder: Path) -> int:
        """Write the report folder with core.export in the worker thread; ``exported`` fires when done.

        A window-modal progress dialog keeps the session unchanged while it is written (no edits can race
        the export) and the event loop keeps running.
        """
        from malaria_desktop.core.export import export_session

        self.slide_panel.metadata.commit()
        session, out = self.document.session, Path(folder)
        dialog = QProgressDialog("Writing the report\u2026", "", 0, max(len(session.results), 1), self)
        dialog.setCancelButton(None)
        dialog.setWindowTitle("Export report")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._export_progress_dialog = dialog
        step = self._export_step

        def factory(_should_cancel):
            yield export_session(session, out, progress=lambda done, total: step.emit(done, total))

        self._export_folder = out
        return self.export_runner.start(factory)

    def _export_progress(self: "MainWindow", done: int, total: int) -> None:
        dialog = getattr(self, "_export_progress_dialog", None)
        if dialog is not None:
            dialog.setMaximum(max(total, 1))
            dialog.setValue(done)

    def _close_export_dialog(self: "MainWindow") -> None:
        dialog, self._export_progress_dialog = getattr(self, "_export_progress_dialog", None), None
        if dialog is not None:
            dialog.close()

    def _export_done(self: "MainWindow", summary: Any) -> None:
        self._close_export_dialog()
        self.settings.set_last_dir(self._export_folder.parent)
        text = f"Report written to {self._export_folder}."
        if getattr(summary, "missing_images", None):
            text += f" {len(summary.missing_images)} image file(s) were missing: no annotated picture for them."
        self.statusBar().showMessage(text, 15000)
        self.exported.emit(summary)

    def _export_failed(self: "MainWindow", message: str, details: str) -> None:
        self._close_export_dialog()
        self.show_error("The report could not be exported", message, details)

    # ------------------------------------------------------------------ settings and about
    def settings_dialog(self: "MainWindow") -> None:
        s = self.document.session.settings
        dialog = SettingsDialog(
            threshold=self.document.threshold,
            model_threshold=self.classifier.card.threshold if self.classifier is not None else None,
            rbc_per_ul=int(s.get("rbc_per_ul", self.settings.rbc_per_ul)),
            hyper_cutoff_pct=float(s.get("hyper_cutoff_pct", self.settings.hyper_cutoff_pct)),
            target_cells=int(s.get("target_cells", self.settings.target_cells)),
            uncertain_margin=self.settings.uncertain_margin, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.values())

    def apply_settings(self: "MainWindow", values: dict[str, Any]) -> None:
        """Persist settings (QSettings) and apply them to the open slide."""
        model_threshold = self.classifier.card.threshold if self.classifier is not None else None
        threshold = float(values["threshold"])
        custom = model_threshold is None or abs(threshold - model_threshold) > 1e-9
        self.settings.set_threshold(threshold if custom else None)
        self.settings.update(rbc_per_ul=int(values["rbc_per_ul"]), hyper_cutoff_pct=float(values["hyper_cutoff_pct"]),
                             target_cells=int(values["target_cells"]),
                             uncertain_margin=float(values.get("uncertain_margin", self.settings.uncertain_margin)))
        self.document.set_settings(rbc_per_ul=int(values["rbc_per_ul"]),
                                   hyper_cutoff_pct=float(values["hyper_cutoff_pct"]),
                                   target_cells=int(values["target_cells"]))
        self.document.set_threshold(threshold)
        self.refresh_overlays()
        self._update_progress(None)

    def about_dialog(self: "MainWindow") -> AboutDialog:
        card = self.classifier.card if self.classifier is not None else None
        dialog = AboutDialog(card, self.model_error, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog
