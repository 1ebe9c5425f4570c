"""The main window: lays out the panels, owns the actions, and connects document, worker and views.

Analysis, review rules, session files and export live in ``core``; review/session/export glue lives in
``AnalysisMixin`` / ``ReviewMixin`` / ``SessionMixin`` (``analysis_actions.py``, ``review_actions.py``,
``session_actions.py``) so this file stays a layout.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QImage, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                               QSplitter, QToolBar, QVBoxLayout, QWidget)

from malaria_desktop import paths
from malaria_desktop.qt.analysis_actions import AnalysisMixin
from malaria_desktop.qt.image_view import PLACEHOLDER, ImageView, qimage_from_rgb
from malaria_desktop.qt.legend import Legend
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.review_actions import ReviewMixin
from malaria_desktop.qt.session_actions import SessionMixin
from malaria_desktop.qt.settings import AppSettings
from malaria_desktop.qt.slide_panel import SlidePanel
from malaria_desktop.qt.summary_panel import SummaryPanel
from malaria_desktop.qt.worker import AnalysisRunner, ModelLoader

log = logging.getLogger(__name__)
MODEL_LOAD_DELAY_MS = 50
SHORT_INTENDED_USE = "Screening aid for trained staff \u2013 not a certified diagnostic device"


class MainWindow(AnalysisMixin, SessionMixin, ReviewMixin, QMainWindow):
    """One slide at a time: drop images, watch the count grow, review, export."""

    analysisIdle = Signal()  # no analysis running and nothing queued (screenshots wait for this)
    overlaysDrawn = Signal(str)  # image key whose overlays were just drawn
    errorShown = Signal(str)
    autosaved = Signal(str)  # path of the autosave file just written
    exported = Signal(object)  # core.export's summary

    def __init__(self, settings: AppSettings, classifier: Any = None, model_dir: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.classifier = classifier
        self.model_dir = model_dir
        self.model_error = ""
        self.document = SlideDocument(self)
        self.runner = AnalysisRunner(self)
        self.loader = ModelLoader(self)
        self.current_key: str | None = None
        self._image_cache: tuple[str, QImage] | None = None
        self.setWindowTitle("Malaria Desktop")
        self.setWindowIcon(QIcon(str(paths.resource_path("icon.png"))))
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        geometry = settings.value("ui/geometry")
        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect()
        self.init_session_support()
        if geometry is not None:
            self.restoreGeometry(geometry)  # where the technician left the window last time
        self.document.new_session(self.new_session_settings())
        if classifier is not None:
            self._model_ready(classifier)
        else:
            self.model_status.setText("Loading model\u2026")
            # start after the window's first paint, so loading ONNX Runtime does not compete with it
            self._load_timer = QTimer(self)  # a child: it dies with the window, never fires on a closed one
            self._load_timer.setSingleShot(True)
            self._load_timer.timeout.connect(lambda: self.loader.load(model_dir))
            self._load_timer.start(MODEL_LOAD_DELAY_MS)

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        self.slide_panel = SlidePanel(self.document)
        self.slide_panel.setMinimumWidth(300)
        self.view = ImageView()
        self.legend = Legend()
        self.summary = SummaryPanel()
        self.view_toolbar = QToolBar("View")
        self.view_toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.review_toolbar = QToolBar("Review")
        self.review_toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(280)
        self.progress.setFormat("%v / %m cells counted")
        self.progress_label = QLabel("Drop field images (or a whole folder) anywhere on this window.")
        self.cancel_button = QPushButton("Cancel analysis")
        self.cancel_button.setVisible(False)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(6, 2, 6, 2)
        bottom.addWidget(self.progress_label, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addWidget(self.view_toolbar)
        centre_layout.addWidget(self.review_toolbar)
        centre_layout.addWidget(self.view, 1)
        centre_layout.addWidget(self.legend)
        centre_layout.addLayout(bottom)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.slide_panel)
        splitter.addWidget(centre)
        splitter.addWidget(self.summary)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 790, 330])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.model_status = QLabel()
        self.intended_use = QLabel(SHORT_INTENDED_USE)
        self.intended_use.setStyleSheet("color: #8a5a00; font-weight: 600;")
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().addPermanentWidget(self.intended_use)

    def _action(self, text: str, slot, shortcut: Any = None, *, checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        a = self._action
        self.act_open = a("&Open Images\u2026", self.open_images_dialog, K.Open, tip="Add field images to this slide")
        self.act_open_folder = a("Open &Folder\u2026", self.open_folder_dialog, "Ctrl+Shift+O")
        self.act_new = a("&New Slide", self.new_slide, K.New)
        self.act_open_session = a("Open &Session\u2026", self.open_session_dialog, "Ctrl+Alt+O")
        self.act_save = a("&Save Session", self.save_session, K.Save)
        self.act_save_as = a("Save Session &As\u2026", self.save_session_as, K.SaveAs)
        self.act_recover = a("Recover &Autosaved Session", self.recover_autosave)
        self.act_locate = a("&Locate Moved Images\u2026", lambda: self.locate_moved_images())
        self.act_export = a("&Export Report\u2026", self.export_dialog, "Ctrl+E")
        self.act_settings = a("Se&ttings\u2026", self.settings_dialog, K.Preferences)
        self.act_quit = a("&Quit", self.close, K.Quit)
        self.act_resume = a("&Analyse Remaining Images", self.start_pending, "Ctrl+R")
        self.act_cancel = a("&Cancel Analysis", self.cancel_analysis, "Ctrl+.")
        self.act_zoom_in = a("Zoom &In", self.view.zoom_in, K.ZoomIn)
        self.act_zoom_out = a("Zoom &Out", self.view.zoom_out, K.ZoomOut)
        self.act_fit = a("&Fit to Window", self.view.fit_to_window, "Ctrl+0")
        self.act_actual = a("Actual Size (&1:1)", self.view.actual_size, "Ctrl+1")
        self.act_overlays = a("Show &Overlays", self.refresh_overlays, "O", checkable=True)
        self.act_overlays.setChecked(True)
        self.act_parasitized_only = a("&Parasitized Only", self.refresh_overlays, "Ctrl+Shift+P", checkable=True)
        self.act_uncertain_only = a("&Uncertain Only", self.refresh_overlays, "Ctrl+Shift+U", checkable=True)
        self.act_next_image = a("Next Image", lambda: self.step_image(1), "Ctrl+PgDown")
        self.act_prev_image = a("Previous Image", lambda: self.step_image(-1), "Ctrl+PgUp")
        self.act_about = a("&About Malaria Desktop", self.about_dialog)
        self.build_review_actions()
        short = {self.act_fit: "Fit", self.act_actual: "1:1", self.act_zoom_in: "Zoom +", self.act_zoom_out: "Zoom \u2212",
                 self.act_mark_parasitized: "Parasitized (P)", self.act_mark_uninfected: "Uninfected (U)",
                 self.act_mark_not_cell: "Not a cell (N)",
                 self.act_overlays: "Overlays", self.act_parasitized_only: "Parasitized only",
                 self.act_uncertain_only: "Uncertain only", self.act_next_uncertain: "Next uncertain (F3)",
                 self.act_add_cell: "Add missed cell (A)", self.act_undo: "Undo", self.act_redo: "Redo"}
        for act, text in short.items():
            act.setIconText(text)  # toolbar label; menus keep the full text
        self.view_toolbar.addWidget(QLabel(" View: "))
        for act in (self.act_fit, self.act_actual, self.act_zoom_in, self.act_zoom_out):
            self.view_toolbar.addAction(act)
        self.view_toolbar.addSeparator()
        for act in (self.act_overlays, self.act_parasitized_only, self.act_uncertain_only):
            self.view_toolbar.addAction(act)
        self.review_toolbar.addWidget(QLabel(" Review: "))
        for act in (self.act_mark_parasitized, self.act_mark_uninfected, self.act_mark_not_cell):
            self.review_toolbar.addAction(act)
        self.review_toolbar.addSeparator()
        for act in (self.act_next_uncertain, self.act_add_cell, self.act_undo, self.act_redo):
            self.review_toolbar.addAction(act)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for act in (self.act_new, self.act_open, self.act_open_folder, None, self.act_open_session):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        self.recent_menu = file_menu.addMenu("Open &Recent Session")
        for act in (self.act_recover, self.act_locate, None, self.act_save, self.act_save_as, None, self.act_export, None,
                    self.act_settings, None, self.act_quit):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.act_undo, self.act_redo])
        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_actual])
        view_menu.addSeparator()
        view_menu.addActions([self.act_overlays, self.act_parasitized_only, self.act_uncertain_only])
        view_menu.addSeparator()
        view_menu.addActions([self.act_next_image, self.act_prev_image])
        analysis_menu = bar.addMenu("&Analysis")
        analysis_menu.addActions([self.act_resume, self.act_cancel])
        review_menu = bar.addMenu("&Review")
        review_menu.addActions(self.review_menu_actions())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)
        self.update_recent_menu()

    def _connect(self) -> None:
        self.runner.progress.connect(self._on_progress)
        self.runner.result.connect(self._on_result)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.errored.connect(lambda msg, details: self.show_error("Analysis stopped", msg, details))
        self.loader.loaded.connect(self._model_ready)
        self.loader.errored.connect(self._model_failed)
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.slide_panel.list.imageSelected.connect(self.show_image)
        self.document.countsChanged.connect(self.update_summary)
        self.document.entriesReset.connect(self._entries_reset)
        self.document.metadataChanged.connect(self.update_title)
        self.connect_review()

    # ------------------------------------------------------------------ model
    @Slot(object)
    def _model_ready(self, classifier: Any) -> None:
        self.classifier = classifier
        self.model_error = ""
        card = classifier.card
        self.model_status.setText(f"Model: {card.name}")
        self.model_status.setToolTip(card.architecture)
        if not self.document.results:
            self.document.set_threshold(self.settings.threshold(card.threshold) or card.threshold)
        self.document.session.model = {"name": card.name, "architecture": card.architecture,
                                       "threshold": card.threshold}
        self.update_actions()
        self.start_pending()

    @Slot(str, str)
    def _model_failed(self, message: str, details: str) -> None:
        self.model_error = message
        self.model_status.setText("No model \u2013 analysis disabled")
        self.model_status.setStyleSheet("color: #c62828; font-weight: 600;")
        self.model_status.setToolTip(message)
        self.progress_label.setText("Analysis is disabled: " + message + " You can still open saved sessions.")
        self.progress_label.setWordWrap(True)
        self.update_actions()
        self.show_error("The model could not be loaded", message, details)
        self.analysisIdle.emit()

    # ------------------------------------------------------------------ loading images
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent  # type: ignore[assignment]

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_paths(files)

    def open_paths(self, inputs: list[Path]) -> list[Path]:
        """Add files and folders (recursively) to the slide and analyse what is new."""
        from malaria_desktop.core.pipeline import expand_inputs

        files = expand_inputs(inputs)
        new = self.document.add_paths(files)
        if not files:
            self.statusBar().showMessage("No images found in what was dropped.", 5000)
        elif not new:
            self.statusBar().showMessage("These images are already in this slide.", 5000)
        else:
            self.statusBar().showMessage(f"Added {len(new)} image{'s' if len(new) != 1 else ''}.", 5000)
        self.start_pending()
        return new

    # ------------------------------------------------------------------ image view
    @Slot(str)
    def show_image(self, key: str, force: bool = False) -> None:
        """Show one image with its overlays (loads the pixels on the GUI thread: one field, ~tens of ms)."""
        from malaria_desktop.core.errors import MalariaDesktopError
        from malaria_desktop.core.image_io import load_image

        same = key == self.current_key
        if same and not force and self.view.has_image():
            return
        self.current_key = key
        entry = self.document.entry(key)
        if entry is None or entry.state in ("error", "missing"):
            self.view.placeholder = f"{Path(key).name}\n\n{entry.error if entry else ''}"
            self.view.set_image(None)
            return
        if self._image_cache is None or self._image_cache[0] != key:
            try:
                image = qimage_from_rgb(load_image(Path(key)))
            except (MalariaDesktopError, OSError, ValueError) as exc:
                self.view.placeholder = f"{Path(key).name}\n\n{exc}"
                self.view.set_image(None)
                return
            self._image_cache = (key, image)
        self.view.set_image(self._image_cache[1], keep_view=same)
        self.refresh_overlays()

    def step_image(self, step: int) -> None:
        """Show the next (or previous) image of the list."""
        keys = [e.key for e in self.document.entries]
        if not keys:
            return
        row = keys.index(self.current_key) if self.current_key in keys else -step
        self.slide_panel.list.select_key(keys[(row + step) % len(keys)])

    def update_summary(self) -> None:
        from malaria_desktop.qt.summary_panel import slide_figures

        results = self.document.results
        settings = self.document.session.settings
        ok = {k: r for k, r in results.items() if r.status == "ok"}
        if not results:
            self.summary.update_figures(None, None, target=int(settings.get("target_cells", 2000)), edits=0)
            return
        auto = slide_figures(results, None, settings)
        reviewed = slide_figures(results, self.document.review, settings)
        quality = [f"{Path(k).name}: {w}" for k, r in ok.items() for w in r.warnings]
        quality += [f"{Path(k).name}: could not be analysed" for k, r in results.items() if r.status != "ok"]
        self.summary.update_figures(auto, reviewed, target=int(settings.get("target_cells", 2000)),
                                    edits=self.document.review.edits_count, quality=quality,
                                    settings=settings)

    def _entries_reset(self) -> None:
        if self.current_key is not None and self.document.entry(self.current_key) is None:
            self.current_key = None
            self._image_cache = None
            self.view.placeholder = PLACEHOLDER
            self.view.set_image(None)
        self.update_actions()

    def update_actions(self) -> None:
        has_model = self.classifier is not None
        self.act_resume.setEnabled(has_model and not self.runner.running and bool(self.document.pending_paths()))
        self.act_cancel.setEnabled(self.runner.running)
        self.act_export.setEnabled(bool(self.document.results))
        self.act_locate.setEnabled(any(e.state == "missing" for e in self.document.entries))
        self.update_review_actions()

    # ------------------------------------------------------------------ errors and closing
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """The one place errors are shown (non-modal, so tests and the event loop never block)."""
        log.error("%s: %s%s", title, message, f"\n{details}" if details else "")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.errorShown.emit(message)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.slide_panel.metadata.commit()
        self.flush_autosave()
        self.settings.set_value("ui/geometry", self.saveGeometry())
        self.settings.sync()
        if getattr(self, "_load_timer", None) is not None:
            self._load_timer.stop()
        self.runner.shutdown()
        self.loader.shutdown()
        self.export_runner.wait(60_000)  # let a report being written finish (never half-written)
        super().closeEvent(event)
