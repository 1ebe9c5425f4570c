"""The main window: lays out the panels, places the actions in menus and toolbars, and wires controllers.

What each command does lives in a controller (``controllers/``): images on screen (``ImageController``),
analysis runs, review, session files and autosave, export. Each gets its dependencies here, in
``_build_controllers``, and connects the actions it owns; the window only connects controllers to each
other and to the panels. Analysis, review rules, session files and export formats live in ``core``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (QDockWidget, QFrame, QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter,
                               QToolBar, QVBoxLayout, QWidget)

from malaria_desktop import paths
from malaria_desktop.qt import theme
from malaria_desktop.qt.actions import ActionId, create_actions
from malaria_desktop.qt.calibration_dialog import ModelSwitcher
from malaria_desktop.qt.controllers.analysis import AnalysisController
from malaria_desktop.qt.controllers.export import ExportController
from malaria_desktop.qt.controllers.model import ModelState
from malaria_desktop.qt.controllers.review import MENU_ACTIONS as REVIEW_MENU
from malaria_desktop.qt.controllers.review import ReviewController
from malaria_desktop.qt.controllers.session import SessionController
from malaria_desktop.qt.controllers.viewer import ImageController
from malaria_desktop.qt.dialogs import AboutDialog
from malaria_desktop.qt.gallery import CellGallery, label_text
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.legend import Legend
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.plain_text import plain_label, plain_text_labels, plain_tooltip, shown_name
from malaria_desktop.qt.print_report import PdfReportController
from malaria_desktop.qt.progress_strip import ProgressStrip
from malaria_desktop.qt.settings import AppSettings
from malaria_desktop.qt.slide_panel import SlidePanel
from malaria_desktop.qt.summary_panel import SummaryPanel, slide_figures
from malaria_desktop.qt.worker import AnalysisRunner, ModelLoader

log = logging.getLogger(__name__)
MODEL_LOAD_DELAY_MS = 50
EXPORT_WAIT_ON_CLOSE_MS = 60_000
SHORT_INTENDED_USE = "Screening aid for trained staff \u2013 not a certified diagnostic device"
Id = ActionId  # short: the menus below read as lists of ids
SEPARATOR = None
FILE_MENU = (Id.NEW, Id.OPEN, Id.OPEN_FOLDER, SEPARATOR, Id.OPEN_SESSION, "recent", Id.RECOVER, Id.LOCATE, SEPARATOR,
             Id.SAVE, Id.SAVE_AS, SEPARATOR, Id.EXPORT, Id.PRINT_PDF, SEPARATOR, Id.SETTINGS, SEPARATOR, Id.QUIT)
MENUS: dict[str, tuple[Any, ...]] = {
    "&Edit": (Id.UNDO, Id.REDO, SEPARATOR, Id.REMOVE_IMAGE),
    "&View": (Id.ZOOM_IN, Id.ZOOM_OUT, Id.FIT, Id.ACTUAL, SEPARATOR, Id.OVERLAYS, Id.PARASITIZED_ONLY,
              Id.UNCERTAIN_ONLY, SEPARATOR, Id.GALLERY, Id.REVIEW_PARASITIZED, SEPARATOR, Id.NEXT_IMAGE,
              Id.PREV_IMAGE),
    "&Analysis": (Id.RESUME, Id.CANCEL, SEPARATOR, Id.CALIBRATE, Id.LOAD_MODEL, Id.USE_BUNDLED),
    "&Review": REVIEW_MENU,
    "&Help": (Id.ABOUT,),
}
VIEW_TOOLBAR = (Id.FIT, Id.ACTUAL, Id.ZOOM_IN, Id.ZOOM_OUT, SEPARATOR, Id.OVERLAYS, Id.PARASITIZED_ONLY,
                Id.UNCERTAIN_ONLY)
# Undo/Redo first: a narrow window hides a toolbar's last buttons behind its overflow arrow
REVIEW_TOOLBAR = (Id.UNDO, Id.REDO, SEPARATOR, Id.MARK_PARASITIZED, Id.MARK_UNINFECTED, Id.MARK_NOT_CELL, SEPARATOR,
                  Id.NEXT_UNCERTAIN, Id.GALLERY, Id.ADD_CELL)


class MainWindow(QMainWindow):
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
        self._model_dir = model_dir
        self.model = ModelState()
        self.document = SlideDocument(self)
        self.runner = AnalysisRunner(self)
        self.loader = ModelLoader(self)
        self.setWindowTitle("Malaria Desktop")
        self.setWindowIcon(QIcon(str(paths.resource_path("icon.png"))))
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        geometry = settings.value("ui/geometry")
        self.action_map = create_actions(self)
        self._build_widgets()
        plain_text_labels(self)  # no label guesses rich text from a file name (markup ones say RichText)
        self._build_menus()
        self._build_controllers()
        self._connect()
        if geometry is not None:
            self.restoreGeometry(geometry)  # where the technician left the window last time
        self.document.new_session(self.sessions.new_session_settings())
        self.sessions.offer_recovery()  # another instance crashed with unsaved work: ask (non-modal)
        self._load_timer: QTimer | None = None
        if classifier is not None:
            self._model_ready(classifier)
        else:
            self.model_status.setText("Loading model\u2026")
            # start after the window's first paint, so loading ONNX Runtime does not compete with it
            self._load_timer = QTimer(self)  # a child: it dies with the window, never fires on a closed one
            self._load_timer.setSingleShot(True)
            self._load_timer.timeout.connect(lambda: self.loader.load(model_dir or self.models.startup_folder()))
            self._load_timer.start(MODEL_LOAD_DELAY_MS)

    @property
    def classifier(self) -> Any:
        return self.model.classifier

    @property
    def model_error(self) -> str:
        return self.model.error

    @property
    def current_key(self) -> str | None:
        return self.viewer.current_key

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        self.slide_panel = SlidePanel(self.document)
        self.slide_panel.setMinimumWidth(250)
        self.view = ImageView()
        self.legend = Legend()
        self.summary = SummaryPanel()
        self.view_toolbar = self._toolbar("View", VIEW_TOOLBAR)
        self.review_toolbar = self._toolbar("Review", REVIEW_TOOLBAR)
        self.progress_strip = ProgressStrip()
        self.progress_label = self.progress_strip.label
        self.progress = self.progress_strip.bar
        self.cancel_button = self.progress_strip.cancel_button
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        for widget in (self.view_toolbar, self.review_toolbar, self.view, self.legend, self.progress_strip):
            centre_layout.addWidget(widget, 1 if widget is self.view else 0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.slide_panel)
        splitter.addWidget(centre)
        self.summary.setMinimumWidth(280)
        summary_scroll = QScrollArea()  # a short screen scrolls the figures instead of squashing them
        summary_scroll.setWidget(self.summary)
        summary_scroll.setWidgetResizable(True)
        summary_scroll.setFrameShape(QFrame.Shape.NoFrame)
        summary_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        summary_scroll.setMinimumWidth(320)  # two columns of 7-digit figures plus a scroll bar
        splitter.addWidget(summary_scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 630, 320])  # file names stay readable beside "59 \u2192 54" counts
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.gallery = CellGallery(self.document)
        self.gallery_dock = QDockWidget("Cell gallery – every cell of the slide, highest probability first", self)
        self.gallery_dock.setObjectName("gallery_dock")
        self.gallery_dock.setWidget(self.gallery)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.gallery_dock)
        self.resizeDocks([self.gallery_dock], [200], Qt.Orientation.Vertical)
        self.model_status = plain_label()  # model folder names and load errors come from the file system
        self.intended_use = plain_label(SHORT_INTENDED_USE)
        self._style_intended_use()
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().addPermanentWidget(self.intended_use)

    def _style_intended_use(self) -> None:
        self.intended_use.setStyleSheet(f"color: {theme.colour('warn', self.palette())}; font-weight: 600;")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "intended_use"):
            self._style_intended_use()  # the user switched to a dark (or light) theme
        super().changeEvent(event)

    def _toolbar(self, name: str, ids: tuple[ActionId | None, ...]) -> QToolBar:
        bar = QToolBar(name)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addWidget(plain_label(f" {name}: "))
        for action_id in ids:
            bar.addSeparator() if action_id is None else bar.addAction(self.action_map[action_id])
        return bar

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for item in FILE_MENU:
            if item is None:
                file_menu.addSeparator()
            elif item == "recent":
                self.recent_menu = file_menu.addMenu("Open &Recent Session")
            else:
                file_menu.addAction(self.action_map[item])
        for title, ids in MENUS.items():
            menu = bar.addMenu(title)
            for action_id in ids:
                menu.addSeparator() if action_id is None else menu.addAction(self.action_map[action_id])

    def _build_controllers(self) -> None:
        status = self.statusBar().showMessage
        commit = self.slide_panel.metadata.commit
        self.viewer = ImageController(self.document, self.view, self.action_map,
                                      select_key=self.slide_panel.list.select_key,
                                      uncertain_margin=lambda: self.settings.uncertain_margin,
                                      uncertain_band=self.uncertain_band, parent=self)
        self.analysis = AnalysisController(self.document, self.runner, self.model, self.viewer, self.progress_strip,
                                           self.action_map, target_cells=lambda: self.settings.target_cells, parent=self)
        self.review = ReviewController(self.document, self.viewer, self.view, self.action_map, status=status,
                                       menu_parent=self, band=self.uncertain_band, parent=self)
        self.sessions = SessionController(self.document, self.runner, self.settings, self.model, self.viewer,
                                          self.action_map, recent_menu=self.recent_menu, dialog_parent=self,
                                          status=status, show_error=self.show_error, commit_metadata=commit,
                                          parent=self)
        self.export = ExportController(self.document, self.settings, self.action_map, dialog_parent=self, status=status,
                                       show_error=self.show_error, commit_metadata=commit, parent=self)
        self.pdf = PdfReportController(self.document, self.settings, self.action_map, dialog_parent=self, status=status,
                                       show_error=self.show_error, commit_metadata=commit,
                                       model_folder=self._model_folder, band_text=lambda: self.band().describe(),
                                       parent=self)
        self.models = ModelSwitcher(self.document, self.model, self.loader, self.action_map,
                                    reanalyse=lambda: self.analysis.start_pending(), status=status, dialog_parent=self,
                                    settings=self.settings, parent=self)

    def _connect(self) -> None:
        self.action_map[Id.QUIT].triggered.connect(self.close)
        self.action_map[Id.ABOUT].triggered.connect(self.about_dialog)
        self.runner.errored.connect(lambda msg, details: self.show_error("Analysis stopped", msg, details))
        self.loader.loaded.connect(self._model_ready)
        self.loader.errored.connect(self._model_failed)
        self.cancel_button.clicked.connect(self.analysis.cancel_analysis)
        self.slide_panel.list.imageSelected.connect(self.viewer.show_image)
        self.document.countsChanged.connect(self.update_summary)
        self.document.entriesReset.connect(self.update_actions)
        self.viewer.overlaysDrawn.connect(self.overlaysDrawn)
        self.analysis.idle.connect(self.analysisIdle)
        self.analysis.stateChanged.connect(self.update_actions)
        self.analysis.runFinished.connect(self.sessions.schedule_autosave)
        self.sessions.autosaved.connect(self.autosaved)
        self.sessions.titleChanged.connect(self.setWindowTitle)
        self.sessions.pathsChosen.connect(self.open_paths)
        self.sessions.slideCleared.connect(self._slide_changed)
        self.sessions.sessionOpened.connect(self._slide_changed)
        self.sessions.sessionOpened.connect(self.analysis.start_pending)
        self.sessions.settingsApplied.connect(self.viewer.refresh_overlays)
        self.sessions.settingsApplied.connect(lambda: self.analysis.update_progress(None))
        self.export.exported.connect(self.exported)
        self.action_map[Id.GALLERY].triggered.connect(lambda: self.show_gallery(None))
        self.action_map[Id.REVIEW_PARASITIZED].triggered.connect(lambda: self.show_gallery("parasitized"))
        self.gallery.showCellRequested.connect(self.show_cell)
        self.gallery.labelled.connect(lambda n, label: self.statusBar().showMessage(
            f"{n} cell{'s' if n != 1 else ''} marked as {label_text(label)}. Ctrl+Z undoes.", 5000))
        self.document.countsChanged.connect(self._update_band)
        self.sessions.settingsApplied.connect(self._update_band)

    # ------------------------------------------------------------------ review helpers
    def band(self):
        """The uncertain band in use: the model card's calibrated one, else threshold ± the margin."""
        from malaria_desktop.core.model_card import margin_band

        threshold, margin = self.document.threshold, self.settings.uncertain_margin
        card = self.classifier.card if self.classifier is not None else None
        return card.uncertain_band(threshold, margin) if card is not None else margin_band(threshold, margin)

    def uncertain_band(self) -> tuple[float, float]:
        band = self.band()
        return band.low, band.high

    def _update_band(self) -> None:
        band = self.uncertain_band()
        if band != self.gallery.model.band:
            self.gallery.model.set_band(*band)

    def _model_folder(self) -> str:
        model_dir = getattr(self.classifier, "model_dir", None) or self._model_dir
        return Path(model_dir).name if model_dir else "bundled model"

    def show_gallery(self, filter_name: str | None) -> None:
        """Show the gallery dock and put the keyboard in it (optionally with a filter)."""
        self.gallery_dock.show()
        self.gallery_dock.raise_()
        self.gallery.focus_first(filter_name)

    @Slot(str, int)
    def show_cell(self, key: str, cell_id: int) -> None:
        """Show a cell in its image (gallery double-click / Enter)."""
        if key != self.viewer.current_key:
            self.viewer.select_key(key)
            self.viewer.show_image(key)
        self.view.select_cell(cell_id, centre=True)
        self.review.describe_cell(cell_id)

    # ------------------------------------------------------------------ model
    @Slot(object)
    def _model_ready(self, classifier: Any) -> None:
        self.model.classifier = classifier
        self.model.error = ""
        card = classifier.card
        calibrated = " \u2013 calibrated to this lab" if card.extra.get("calibration") else ""
        self.model_status.setText(f"Model: {card.name} ({self._model_folder()}){calibrated}")
        self.model_status.setToolTip(plain_tooltip(card.architecture))
        if not self.document.results:
            self.document.set_threshold(self.settings.threshold(card.threshold) or card.threshold)
        self.document.session.model = {"name": card.name, "architecture": card.architecture,
                                       "threshold": card.threshold, "folder": self._model_folder(),
                                       "calibration": str(card.extra.get("calibration", "") or "")}
        self._update_band()
        self.update_actions()
        self.analysis.start_pending()

    @Slot(str, str)
    def _model_failed(self, message: str, details: str) -> None:
        self.model.error = message
        self.model_status.setText("No model \u2013 analysis disabled")
        self.model_status.setStyleSheet(f"color: {theme.colour('bad', self.palette())}; font-weight: 600;")
        self.model_status.setToolTip(plain_tooltip(message))
        self.progress_strip.set_text("Analysis is disabled: " + message + " You can still open saved sessions.",
                                     wrap=True)
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

    @Slot(list)
    def open_paths(self, inputs: list[Path]) -> list[Path]:
        """Add files and folders (recursively) to the slide and analyse what is new."""
        from malaria_desktop.core.pipeline import expand_inputs

        problems: list[tuple[Path, str]] = []
        files = expand_inputs(inputs, problems)
        if problems:  # never skip an unreadable sub-folder silently: its fields would be missing from the count
            listed = "\n".join(f"\u2022 {shown_name(p)} ({why})" for p, why in problems[:10])
            self.show_error("Some folders could not be read",
                            f"The images in these folders were not added:\n{listed}")
        new = self.document.add_paths(files)
        if not files:
            self.statusBar().showMessage("No images found in what was dropped.", 5000)
        elif not new:
            self.statusBar().showMessage("These images are already in this slide.", 5000)
        else:
            self.statusBar().showMessage(f"Added {len(new)} image{'s' if len(new) != 1 else ''}.", 5000)
        self.analysis.start_pending()
        return new

    # ------------------------------------------------------------------ panels
    def update_summary(self) -> None:
        """Figures of the slide now open; if they cannot be computed the panel is cleared, never left
        showing the previous slide's figures beside this one's images (issue 13 item 2)."""
        try:
            self._update_summary()
        except Exception as exc:  # noqa: BLE001 - shown, logged, and the stale figures removed
            self.summary.update_figures(None, None, target=self.document.session.settings.target_cells, edits=0)
            self.show_error("The slide's figures could not be computed", str(exc))

    def _update_summary(self) -> None:
        results = self.document.results
        settings = self.document.session.settings
        target = settings.target_cells
        if not results:
            self.summary.update_figures(None, None, target=target, edits=0)
            return
        ok = {k: r for k, r in results.items() if r.status == "ok"}
        auto = slide_figures(results, None, settings)
        reviewed = slide_figures(results, self.document.review, settings)
        quality = [f"{shown_name(Path(k).name)}: {w}" for k, r in ok.items() for w in r.warnings]
        quality += [f"{shown_name(Path(k).name)}: could not be analysed" for k, r in results.items()
                    if r.status != "ok"]
        self.summary.update_figures(auto, reviewed, target=target, edits=self.document.review.edits_count,
                                    quality=quality, settings=settings)

    def _slide_changed(self) -> None:
        """New slide or a session opened: the strip under the image says what is there now."""
        from malaria_desktop.qt.progress_strip import HINT

        self.update_summary()
        self.update_actions()
        self.analysis.update_progress(None)
        entries = self.document.entries
        if not entries:
            self.progress_strip.set_text(HINT)
            return
        done = sum(1 for e in entries if e.state == "done")
        name = self.document.session_path.name if self.document.session_path else "the recovered session"
        self.progress_strip.set_text(f"Opened {name}: {len(entries)} image(s), {done} analysed.")

    def update_actions(self) -> None:
        for controller in (self.analysis, self.export, self.sessions, self.review, self.pdf, self.models):
            controller.update_actions()

    def about_dialog(self) -> AboutDialog:
        dialog = AboutDialog(self.classifier.card if self.classifier is not None else None, self.model_error, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # ------------------------------------------------------------------ errors and closing
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """The one place errors are shown (non-modal, so tests and the event loop never block)."""
        log.error("%s: %s%s", title, message, f"\n{details}" if details else "")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # messages carry file names: never read them as markup
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.errorShown.emit(message)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.slide_panel.metadata.commit()
        self.sessions.close()  # flushes the autosave and keeps it as the last cleanly closed one
        self.settings.set_value("ui/geometry", self.saveGeometry())
        self.settings.sync()
        if self._load_timer is not None:
            self._load_timer.stop()
        self.runner.shutdown()
        self.loader.shutdown()
        self.export.wait(EXPORT_WAIT_ON_CLOSE_MS)  # let a report being written finish (never half-written)
        self.gallery.model.thumbnails.shutdown()
        super().closeEvent(event)

