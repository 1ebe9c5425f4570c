"""The main window: lays out the panels, places the actions (``menus.py``) and wires the controllers.

What each command does lives in a controller (``controllers/``); each gets its dependencies in
``_build_controllers`` and connects the actions it owns. The window only connects them to each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from malaria_desktop import paths
from malaria_desktop.core.classification.model_card import UncertainBand
from malaria_desktop.qt import theme
from malaria_desktop.qt.actions import ActionId, create_actions
from malaria_desktop.qt.calibration_dialog import ModelSwitcher
from malaria_desktop.qt.controllers.analysis import AnalysisController
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.controllers.export import ExportController
from malaria_desktop.qt.controllers.gallery import GalleryController
from malaria_desktop.qt.controllers.model import ModelState
from malaria_desktop.qt.controllers.queues import QueueController
from malaria_desktop.qt.controllers.review import ReviewController
from malaria_desktop.qt.controllers.session import SessionController
from malaria_desktop.qt.controllers.summary import SummaryController
from malaria_desktop.qt.controllers.viewer import ImageController
from malaria_desktop.qt.dialogs import AboutDialog
from malaria_desktop.qt.error_box import show_error_box
from malaria_desktop.qt.gallery import CellGallery
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.legend import Legend
from malaria_desktop.qt.menus import REVIEW_TOOLBAR, VIEW_TOOLBAR, build_menu_bar, make_toolbar
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.plain_text import plain_label, plain_text_labels, plain_tooltip, shown_name
from malaria_desktop.qt.print_report import PdfReportController
from malaria_desktop.qt.progress_strip import HINT, ProgressStrip
from malaria_desktop.qt.queue_panel import QueuePanel
from malaria_desktop.qt.settings import AppSettings
from malaria_desktop.qt.slide_panel import SlidePanel
from malaria_desktop.qt.summary_panel import SummaryPanel
from malaria_desktop.qt.worker import AnalysisRunner, ModelLoader

MODEL_LOAD_DELAY_MS = 50
EXPORT_WAIT_ON_CLOSE_MS = 60_000
SHORT_INTENDED_USE = "Screening aid for trained staff \u2013 not a certified diagnostic device"


class MainWindow(QMainWindow):
    """One slide at a time: drop images, watch the count grow, review, export."""

    analysisIdle = Signal()  # no analysis running and nothing queued (screenshots wait for this)
    overlaysDrawn = Signal(str)  # image key whose overlays were just drawn
    errorShown = Signal(str)
    autosaved = Signal(str)  # path of the autosave file just written
    exported = Signal(object)  # core.report.export's summary

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
        self.recent_menu = build_menu_bar(self.menuBar(), self.action_map)
        self._build_controllers()
        self._connect()
        if isinstance(geometry, (QByteArray, bytes)):
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
        self.queue_panel = QueuePanel()  # what is left to review, above the figures
        self.summary.layout().insertWidget(0, self.queue_panel)  # type: ignore[union-attr]  # a QVBoxLayout
        self.view_toolbar = make_toolbar("View", VIEW_TOOLBAR, self.action_map)
        self.review_toolbar = make_toolbar("Review", REVIEW_TOOLBAR, self.action_map)
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

    def _build_controllers(self) -> None:
        self.ctx = ctx = ControllerContext(
            self.document, self.action_map, self.settings, self.model, self.runner,
            status=self.statusBar().showMessage, show_error=self.show_error, dialog_parent=self,
            commit_metadata=self.slide_panel.metadata.commit)
        self.viewer = ImageController(ctx, self.view, select_key=self.slide_panel.list.select_key, parent=self)
        self.analysis = AnalysisController(ctx, self.runner, self.viewer, self.progress_strip, parent=self)
        self.review = ReviewController(ctx, self.viewer, self.view, parent=self)
        self.queues = QueueController(self.review, self.queue_panel, parent=self)
        self.sessions = SessionController(ctx, self.runner, self.viewer, recent_menu=self.recent_menu, parent=self)
        self.export = ExportController(ctx, parent=self)
        self.pdf = PdfReportController(ctx, model_folder=self._model_folder, parent=self)
        self.gallery_ctl = GalleryController(ctx, self.gallery, self.gallery_dock, self.review, parent=self)
        self.figures = SummaryController(ctx, self.summary, parent=self)
        self.models = ModelSwitcher(ctx, self.loader, reanalyse=lambda: self.analysis.start_pending(), parent=self)

    def _connect(self) -> None:
        self.action_map[ActionId.QUIT].triggered.connect(self.close)
        self.action_map[ActionId.ABOUT].triggered.connect(self.about_dialog)
        self.runner.errored.connect(lambda msg, details: self.show_error("Analysis stopped", msg, details))
        self.loader.loaded.connect(self._model_ready)
        self.loader.errored.connect(self._model_failed)
        self.cancel_button.clicked.connect(self.analysis.cancel_analysis)
        self.slide_panel.list.imageSelected.connect(self.viewer.show_image)
        self.summary.warnings.imageRequested.connect(self.slide_panel.list.select_key)
        self.view.addModeLeft.connect(lambda: self.action_map[ActionId.ADD_CELL].setChecked(False))
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
        self.sessions.settingsApplied.connect(self.gallery_ctl.update_band)

    # ------------------------------------------------------------------ model
    def band(self) -> UncertainBand:
        """The uncertain band in use: the model card's calibrated one, else threshold ± the margin."""
        return self.ctx.band()

    def uncertain_band(self) -> tuple[float, float]:
        band = self.band()
        return band.low, band.high

    def _model_folder(self) -> str:
        return self.model.folder_name(self._model_dir)

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
                                       "calibration": str(card.extra.get("calibration", "") or ""),
                                       "error_rates": _error_rates(card)}
        self.gallery_ctl.update_band()
        self.update_actions()
        self.runner.prewarm(classifier)
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
    def _slide_changed(self) -> None:
        """New slide or a session opened: the strip under the image says what is there now."""
        self.figures.update()
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
        self.ctx.refresh_actions()  # each action's condition is in the actions table

    def about_dialog(self) -> AboutDialog:
        dialog = AboutDialog(self.classifier.card if self.classifier is not None else None, self.model_error, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # ------------------------------------------------------------------ errors and closing
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """The one place errors are shown: worker errors and uncaught exceptions (qt.app) come here."""
        show_error_box(self, title, message, details)
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


def _error_rates(card: Any) -> dict[str, Any] | None:
    """The model's error rates for the slide estimate and its interval (core.report.estimate), kept in the session."""
    from malaria_desktop.core.report.estimate import rates_from_card

    rates = rates_from_card(card.extra)
    return None if rates is None else rates.as_dict()
