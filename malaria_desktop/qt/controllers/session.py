"""Session files: new slide, open/save/recover/locate, recent sessions, window title, autosave, settings.

Autosave: every change of the document (re)starts a short single-shot QTimer, but never past
``AUTOSAVE_MAX_DELAY_MS`` after the first unsaved change, so steady review (an edit every 0.7 s) is saved
at least every 5 s (issue 13 item 1). The session goes to this instance's own locked file
(``qt.autosave.AutosaveStore``, with generations). The timer's saves take a snapshot on the GUI thread and
encode + write it in a background thread (``BackgroundSaver``, issue 11 item 8: a save took up to 630 ms
of frozen window); ``autosave_now`` (recovery, closing, New Slide) still writes before it returns.
Closing the window flushes it; at start-up the files of instances that crashed are offered in a recovery
prompt, and File ▸ Recover Autosaved Session opens the newest one (or the last cleanly closed one).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu, QMessageBox

from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.review.session import SESSION_SUFFIX, Session, load_session, relocate_images, save_session
from malaria_desktop.core.settings import ReportSettings
from malaria_desktop.core.text import display_text
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.autosave import AutosaveStore, BackgroundSaver, snapshot
from malaria_desktop.qt.controllers.context import ControllerContext, Viewer
from malaria_desktop.qt.dialogs import SettingsDialog
from malaria_desktop.qt.plain_text import plain_tooltip, shown_name
from malaria_desktop.qt.worker import GeneratorRunner

AUTOSAVE_DELAY_MS = 800
AUTOSAVE_BUSY_DELAY_MS = 5000
AUTOSAVE_MAX_DELAY_MS = 5000  # after the first unsaved change, whatever follows
SESSION_FILTER = f"Malaria Desktop sessions (*{SESSION_SUFFIX});;All files (*)"
IMAGE_FILTER = "Field images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)"


class SessionController(QObject):
    """Owns the File actions except Export and Quit, the recent-sessions menu and the autosave timer."""

    autosaved = Signal(str)  # path of the autosave file just written
    titleChanged = Signal(str)
    pathsChosen = Signal(list)  # image files or folders the user picked to add to the slide
    slideCleared = Signal()  # File ▸ New Slide
    sessionOpened = Signal()  # a session file was loaded: analyse what it still has queued
    settingsApplied = Signal()  # threshold or report settings changed: redraw overlays and progress

    def __init__(self, ctx: ControllerContext, runner: GeneratorRunner, viewer: Viewer, *, recent_menu: QMenu,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.document, self.runner, self.settings, self.model = ctx.document, runner, ctx.settings, ctx.model
        self.viewer, self.actions, self.recent_menu = viewer, ctx.actions, recent_menu
        self.dialog_parent, self.status, self.show_error = ctx.dialog_parent, ctx.status, ctx.show_error
        self.commit_metadata = ctx.commit_metadata
        document = ctx.document
        self.dirty = False
        self.missing_box: QMessageBox | None = None
        self.recovery_box: QMessageBox | None = None
        self.store = AutosaveStore()
        self.crashed = self.store.crashed()  # other instances' autosaves whose process is gone
        self._first_unsaved: float | None = None
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave_timer.timeout.connect(self.autosave_in_background)
        self.saver = BackgroundSaver(self.store, self)
        self.saver.saved.connect(self.autosaved)
        self.saver.failed.connect(lambda message: self.status(f"Autosave failed: {message}", 10000))
        document.modified.connect(self.schedule_autosave)
        document.modified.connect(self.update_title)
        document.modified.connect(self._mark_dirty)
        document.metadataChanged.connect(self.update_title)
        self._connect_actions()
        self.update_recoverable()
        self.update_recent_menu()

    def _connect_actions(self) -> None:
        a = self.actions
        a[ActionId.OPEN].triggered.connect(self.open_images_dialog)
        a[ActionId.OPEN_FOLDER].triggered.connect(self.open_folder_dialog)
        a[ActionId.NEW].triggered.connect(self.new_slide)
        a[ActionId.OPEN_SESSION].triggered.connect(self.open_session_dialog)
        a[ActionId.SAVE].triggered.connect(self.save_session)
        a[ActionId.SAVE_AS].triggered.connect(self.save_session_as)
        a[ActionId.RECOVER].triggered.connect(lambda: self.recover_autosave())
        a[ActionId.LOCATE].triggered.connect(lambda: self.locate_moved_images())
        a[ActionId.SETTINGS].triggered.connect(self.settings_dialog)

    def update_recoverable(self) -> None:
        """Recover is enabled while an earlier run's autosave exists (a scan of the folder: not on every refresh)."""
        self.ctx.recoverable = self.store.latest() is not None
        self.ctx.refresh_actions()

    def new_session_settings(self) -> ReportSettings:
        return self.settings.report_settings(self.model.card_threshold)

    # ------------------------------------------------------------------ autosave
    def schedule_autosave(self) -> None:
        """Debounce: ~1 s after the last change; while analysing, every few seconds (a large slide takes a
        noticeable fraction of a second to write, and results arrive continuously). Never later than
        AUTOSAVE_MAX_DELAY_MS after the first change not yet saved."""
        now = time.monotonic()
        if self._first_unsaved is None:
            self._first_unsaved = now
        left = max(0, int(AUTOSAVE_MAX_DELAY_MS - (now - self._first_unsaved) * 1000))
        if not self.runner.running:
            self._autosave_timer.start(min(AUTOSAVE_DELAY_MS, left))
        elif not self._autosave_timer.isActive():
            self._autosave_timer.start(min(AUTOSAVE_BUSY_DELAY_MS, left))

    def _mark_dirty(self) -> None:
        self.dirty = True

    def autosave_in_background(self) -> None:
        """The timer's save: snapshot now (cheap), encode and write in the saver's thread."""
        self._autosave_timer.stop()
        self._first_unsaved = None
        if not self.document.is_empty():
            self.saver.submit(snapshot(self.document.session))

    def autosave_now(self) -> Path | None:
        """Write the session before returning (after any background write, so the newest state wins)."""
        self._autosave_timer.stop()
        self._first_unsaved = None
        self.saver.wait()
        if self.document.is_empty():
            return None
        try:
            path = self.store.save(self.document.session)
        except (MalariaDesktopError, OSError) as exc:
            self.status(f"Autosave failed: {exc}", 10000)
            return None
        self.autosaved.emit(str(path))
        return path

    def flush_autosave(self) -> None:
        if self._autosave_timer.isActive():
            self.autosave_now()
        self.saver.wait()

    def close(self) -> None:
        """The window closes cleanly: write what is pending, keep it as the last closed autosave."""
        self.flush_autosave()
        if self.recovery_box is not None:
            self.recovery_box.close()
        self.store.close()

    def offer_recovery(self) -> QMessageBox | None:
        """At start-up: if another instance crashed with unsaved work, ask what to do with it (non-modal)."""
        if not self.crashed:
            return None
        latest = self.crashed[0]
        try:
            meta = self.store.load(latest).metadata
            who = ", ".join(p for p in (meta.patient_id and f"patient {meta.patient_id}",
                                        meta.slide_id and f"slide {meta.slide_id}") if p) or "an unnamed slide"
        except MalariaDesktopError:
            who = "a slide (the file is damaged)"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(latest.stat().st_mtime))
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work?",
                          f"Malaria Desktop did not close normally. Work on {who}, autosaved at {when}, can be "
                          f"recovered.\n\nRecover it now?", QMessageBox.StandardButton.NoButton, self.dialog_parent)
        box.setTextFormat(Qt.TextFormat.PlainText)
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        later = box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        recover.clicked.connect(lambda: self.recover_autosave(latest))
        discard.clicked.connect(lambda: self._discard(latest))
        later.setToolTip("Keep it: File ▸ Recover Autosaved Session opens it later")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(lambda: setattr(self, "recovery_box", None))
        box.show()
        self.recovery_box = box
        return box

    def _discard(self, path: Path) -> None:
        self.store.settle(path, "discarded")
        self.crashed = [p for p in self.crashed if p != path]
        self.update_recoverable()

    # ------------------------------------------------------------------ files
    def open_images_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.dialog_parent, "Add field images", self.settings.last_dir(),
                                                IMAGE_FILTER)
        if files:
            self.settings.set_last_dir(Path(files[0]).parent)
            self.pathsChosen.emit([Path(f) for f in files])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Add a folder of field images",
                                                  self.settings.last_dir())
        if folder:
            self.settings.set_last_dir(folder)
            self.pathsChosen.emit([Path(folder)])

    def new_slide(self) -> None:
        self.commit_metadata()
        self.flush_autosave()
        self.runner.cancel()
        self.document.new_session(self.new_session_settings(), self.document.session.model)
        self.viewer.clear()
        self.slideCleared.emit()

    def open_session_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Open session", self.settings.last_dir(),
                                              SESSION_FILTER)
        if path:
            self.open_session(Path(path))

    def open_session(self, path: Path, *, remember: bool = True) -> bool:
        """Load a session file; images that moved are listed instead of failing the load."""
        try:
            session = load_session(path)
        except MalariaDesktopError as exc:
            self.show_error("The session could not be opened", str(exc), "")
            return False
        self.show_session(session, path, remember=remember)
        return True

    def show_session(self, session: Session, path: Path | None, *, remember: bool = True) -> None:
        """Make a loaded session the open slide."""
        self.runner.cancel()
        self.viewer.clear()
        missing = self.document.load(session, path if remember else None)
        if remember and path is not None:
            self.settings.add_recent_session(path)
            self.update_recent_menu()
        self.update_title()
        if self.document.entries:
            first = next((e.key for e in self.document.entries if e.state == "done"), self.document.entries[0].key)
            self.viewer.select_key(first)
        if missing:
            self._show_missing(missing)
        self.status(f"Opened session {display_text(Path(path).name) if path else 'recovered work'}.", 5000)
        self.sessionOpened.emit()

    def _show_missing(self, missing: list[Path]) -> None:
        names = "\n".join(f"\u2022 {shown_name(p)}" for p in missing[:10]) + ("\n\u2026" if len(missing) > 10 else "")
        box = QMessageBox(QMessageBox.Icon.Information, "Some images have moved",
                          f"{len(missing)} image file(s) of this session are no longer where they were:\n"
                          f"{names}\n\nTheir results and your review are kept. Choose \u201cLocate\u2026\u201d "
                          "to point to the folder they are in now.", QMessageBox.StandardButton.Close,
                          self.dialog_parent)
        box.setTextFormat(Qt.TextFormat.PlainText)
        locate = box.addButton("Locate\u2026", QMessageBox.ButtonRole.ActionRole)
        locate.clicked.connect(lambda: self.locate_moved_images())
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self.missing_box = box

    def locate_moved_images(self, folder: Path | None = None) -> int:
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self.dialog_parent, "Folder that now holds the images")
            if not chosen:
                return 0
            folder = Path(chosen)
        found = relocate_images(self.document.session, folder)
        self.document.load(self.document.session, self.document.session_path)
        self.document.modified.emit()
        first = next((e.key for e in self.document.entries if e.state == "done"), None)
        if first is not None:
            self.viewer.select_key(first)
        self.status(f"Found {len(found)} moved image(s).", 5000)
        return len(found)

    def recover_autosave(self, path: Path | None = None) -> bool:
        """Open an autosave (default: the newest recoverable); it becomes this instance's autosave at once."""
        path = path or self.store.latest()
        if path is None:
            return False
        try:
            session = self.store.load(path)
        except MalariaDesktopError as exc:
            self.show_error("The autosaved session could not be opened", str(exc), "")
            return False
        self.show_session(session, None, remember=False)
        self.store.settle(path, "recovered")
        self.crashed = [p for p in self.crashed if p != path]
        self.update_recoverable()
        self.document.modified.emit()  # written to this instance's autosave at once
        self.autosave_now()
        return True

    def save_session(self) -> Path | None:
        if self.document.session_path is None:
            return self.save_session_as()
        return self.save_session_to(self.document.session_path)

    def save_session_as(self) -> Path | None:
        meta = self.document.metadata
        name = "_".join(p for p in (meta.patient_id, meta.slide_id) if p) or "slide"
        suggested = str(Path(self.settings.last_dir()) / f"{name}{SESSION_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self.dialog_parent, "Save session", suggested, SESSION_FILTER)
        if not path:
            return None
        if not path.endswith(SESSION_SUFFIX):
            path += SESSION_SUFFIX
        return self.save_session_to(Path(path))

    def save_session_to(self, path: Path) -> Path | None:
        self.commit_metadata()
        try:
            save_session(self.document.session, path)
        except MalariaDesktopError as exc:
            self.show_error("The session could not be saved", str(exc), "")
            return None
        self.document.session_path = Path(path)
        self.dirty = False
        self.settings.add_recent_session(path)
        self.settings.set_last_dir(Path(path).parent)
        self.update_recent_menu()
        self.update_title()
        self.status(f"Saved {Path(path).name}.", 5000)
        return Path(path)

    def update_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_sessions()
        for entry in recent:
            action = self.recent_menu.addAction(shown_name(Path(entry).name))
            action.setToolTip(plain_tooltip(entry))
            action.setStatusTip(entry)
            action.triggered.connect(lambda _checked=False, p=entry: self.open_session(Path(p)))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent_sessions()
        self.update_recent_menu()

    def update_title(self) -> None:
        meta = self.document.metadata
        who = " \u00b7 ".join(p for p in (meta.patient_id and f"Patient {meta.patient_id}",
                                          meta.slide_id and f"Slide {meta.slide_id}") if p)
        where = self.document.session_path.name if self.document.session_path else "unsaved slide"
        self.titleChanged.emit(f"Malaria Desktop \u2013 {who or where}{' *' if self.dirty else ''}")

    # ------------------------------------------------------------------ settings of the open slide
    def settings_dialog(self) -> None:
        s = self.document.session.settings
        dialog = SettingsDialog(
            threshold=self.document.threshold, model_threshold=self.model.card_threshold,
            rbc_per_ul=int(s.rbc_per_ul), hyper_cutoff_pct=s.hyper_cutoff_pct, target_cells=s.target_cells,
            uncertain_margin=self.settings.uncertain_margin, card=self.model.card, parent=self.dialog_parent)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.values())

    def apply_settings(self, values: dict[str, Any]) -> None:
        """Persist settings (QSettings) and apply them to the open slide."""
        model_threshold = self.model.card_threshold
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
        self.settingsApplied.emit()
