"""Analysis ▸ Calibrate to This Lab…, Load Model…, Use the Bundled Model: which model reads the slides.

The work is ``core.calibration.calibrate.calibration_job`` (a generator) relayed by ``worker.GeneratorRunner``; the
dialog only gathers the sources (this slide's reviewed cells, saved sessions, exported crop folders),
shows progress and the before/after figures, and asks the controller to activate the new folder.
Switching models re-analyses the slide's images with the new one; review edits are kept because they
are stored per cell and the segmentation (which numbers the cells) does not depend on the model.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from malaria_desktop import paths
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.plain_text import plain_label
from malaria_desktop.qt.worker import GeneratorRunner, ModelLoader

log = logging.getLogger(__name__)


def default_output_folder() -> Path:
    """A new folder per calibration under the user's data folder (the program folder may be read-only)."""
    return paths.user_data_dir() / "models" / f"calibrated-{datetime.now():%Y%m%d-%H%M%S}"


def figures_html(outcome: Any) -> str:
    """Before/after table of a ``CalibrationOutcome`` (cross-validated on the reviewed cells)."""
    r, cells = outcome.result, outcome.cells
    rows = [("Base model (its own threshold)", r.base), ("Base model (threshold re-chosen)", r.base_rethresholded),
            ("Calibrated (cross-validated)", r.calibrated)]
    body = "".join(f"<tr><td>{html.escape(name)}</td><td align=right>{f.threshold:.3f}</td>"
                   f"<td align=right>{f.sensitivity:.3f}</td><td align=right>{f.specificity:.3f}</td>"
                   f"<td align=right>{f.auc:.3f}</td></tr>" for name, f in rows)
    verdict = ("<b>The calibrated model is better on these cells.</b>" if r.better else
               "<b>The calibrated model is not better than the base model on these cells.</b>")
    written = (f" Saved as <i>{html.escape(outcome.written.name)}</i>." if outcome.written is not None
               else " Nothing was saved.")
    return (f"<p>{len(cells)} reviewed cells ({cells.n_parasitized} parasitized) from "
            f"{len(set(cells.fields))} fields of {len(set(cells.slides))} slide(s).</p>"
            "<table cellpadding=3><tr><th></th><th>threshold</th><th>sensitivity</th><th>specificity</th>"
            f"<th>AUC</th></tr>{body}</table><p>{verdict}{written}</p>")


class CalibrateDialog(QDialog):
    """Choose the reviewed cells and a folder, calibrate in the background, then activate the result."""

    activateRequested = Signal(object)  # Path of the new model folder
    importRequested = Signal(object)  # Path of a COCO JSON file: label this slide's cells from it
    outcomeReady = Signal(object)  # core.calibration.calibrate.CalibrationOutcome

    def __init__(self, base_dir: Path, current: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate to This Lab")
        self.base_dir = Path(base_dir)
        self.current = current  # core.calibration.data.SessionCells of the open slide, or None
        self.outcome: Any = None
        self.runner = GeneratorRunner(self)
        self.runner.yielded.connect(self._on_item)
        self.runner.errored.connect(self._on_error)
        self.runner.finished.connect(self._update_buttons)
        n_current = sum(len(cells) for *_, cells in current.images) if current is not None else 0
        intro = plain_label("The model is fine-tuned on cells a technician reviewed in this lab, judged by "
                            "cross-validation against the model in use, and saved as a new model folder.")
        intro.setWordWrap(True)
        self.use_current = QCheckBox(f"Reviewed cells of this slide ({n_current})")
        self.use_current.setChecked(n_current > 0)
        self.use_current.setEnabled(n_current > 0)
        self.sources = QListWidget()
        add_sessions = QPushButton("Add Saved Sessions\u2026")
        add_sessions.clicked.connect(self._add_sessions)
        add_folder = QPushButton("Add Exported Folder\u2026")
        add_folder.clicked.connect(self._add_folder)
        label_from = QPushButton("Label This Slide from Annotations\u2026")  # COCO boxes -> its cells
        label_from.clicked.connect(self._import_annotations)
        remove = QPushButton("Remove")
        remove.clicked.connect(
            lambda: [self.sources.takeItem(self.sources.row(i)) for i in self.sources.selectedItems()])
        source_buttons = QHBoxLayout()
        for button in (add_sessions, add_folder, label_from, remove):
            source_buttons.addWidget(button)
        self.out_edit = QLineEdit(str(default_output_folder()))
        self.force = QCheckBox("Save the model even if it is not better")
        self.progress = QProgressBar()
        self.status = plain_label()  # progress and errors name files: never markup (issue 24)
        self.status.setWordWrap(True)
        self.figures = QLabel("")
        self.figures.setTextFormat(Qt.TextFormat.RichText)  # a table built here, every name escaped
        self.figures.setWordWrap(True)
        self.start_button = QPushButton("Calibrate")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel Calibration")
        self.cancel_button.clicked.connect(self.cancel)
        self.activate_button = QPushButton("Use This Model")
        self.activate_button.clicked.connect(self._activate)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for button in (self.start_button, self.cancel_button, self.activate_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        for widget in (intro, self.use_current, plain_label("Saved sessions and exported crop folders:"),
                       self.sources):
            layout.addWidget(widget)
        layout.addLayout(source_buttons)
        for part in (plain_label("New model folder:"), self.out_edit, self.force, self.progress, self.status,
                     self.figures, buttons):
            layout.addWidget(part)
        self._update_buttons()

    def _add_sessions(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Saved sessions", "", "Sessions (*.mdsession)")
        self.add_sources([Path(f) for f in files])

    def _import_annotations(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "COCO annotations of this slide's fields", "", "COCO JSON (*.json)")
        if file:
            self.importRequested.emit(Path(file))

    def set_current(self, current: Any) -> None:
        """The open slide's reviewed cells changed (e.g. labelled from annotations): offer them."""
        self.current = current if current is not None and current.images else None
        n = sum(len(cells) for *_, cells in self.current.images) if self.current is not None else 0
        self.use_current.setText(f"Reviewed cells of this slide ({n})")
        self.use_current.setEnabled(n > 0)
        self.use_current.setChecked(n > 0)
        self._update_buttons()

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Exported folder with Parasitized/ and Uninfected/")
        if folder:
            self.add_sources([Path(folder)])

    def add_sources(self, sources: list[Path]) -> None:
        for source in sources:
            self.sources.addItem(str(source))
        self._update_buttons()

    def source_paths(self) -> list[Path]:
        return [Path(self.sources.item(i).text()) for i in range(self.sources.count())]

    def start(self) -> int:
        """Run the calibration in the worker thread; returns the run's generation."""
        from malaria_desktop.core.calibration.calibrate import CalibrationOptions, calibration_job

        inputs, out = self.source_paths(), Path(self.out_edit.text().strip())
        sessions = (self.current,) if self.current is not None and self.use_current.isChecked() else ()
        options = CalibrationOptions(force=self.force.isChecked())
        base = self.base_dir

        def factory(should_cancel: Callable[[], bool]):
            outcome = yield from calibration_job(inputs, base, out, options, sessions, should_cancel)
            yield outcome

        self.outcome = None
        self.figures.setText("")
        self.status.setText("Starting\u2026")
        generation = self.runner.start(factory)
        self._update_buttons()
        return generation

    def cancel(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.status.setText("Calibration cancelled; nothing was written.")

    @Slot(object)
    def _on_item(self, item: Any) -> None:
        from malaria_desktop.core.calibration.calibrate import CalibrationOutcome

        if isinstance(item, CalibrationOutcome):
            self.outcome = item
            self.figures.setText(figures_html(item))
            self.status.setText("Done." if item.written is not None else "Done; no model was saved.")
            self.outcomeReady.emit(item)
        else:
            self.progress.setRange(0, max(item.total, 1))
            self.progress.setValue(item.step)
            self.status.setText(item.message)

    @Slot(str, str)
    def _on_error(self, message: str, details: str) -> None:
        self.status.setText(f"Not calibrated: {message}")
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.runner.running
        has_input = self.use_current.isChecked() or self.sources.count() > 0
        self.start_button.setEnabled(not running and has_input)
        self.cancel_button.setEnabled(running)
        self.activate_button.setEnabled(not running and self.outcome is not None and self.outcome.written is not None)

    def _activate(self) -> None:
        if self.outcome is not None and self.outcome.written is not None:
            self.activateRequested.emit(self.outcome.written)
            self.accept()

    def done(self, result: int) -> None:  # noqa: D102 - closing stops a run: nothing half-written stays
        self.runner.shutdown()
        super().done(result)


class ModelSwitcher(QObject):
    """Owns Calibrate / Load Model / Use the Bundled Model; re-analyses the slide with the new model."""

    modelSwitched = Signal(object)  # the new classifier

    SETTING = "model/folder"  # the model folder the technician chose last ("" or absent: the bundled one)

    def __init__(self, ctx: ControllerContext, loader: ModelLoader, *, reanalyse: Callable[[], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.model, self.loader, self.settings = ctx.document, ctx.model, loader, ctx.settings
        self.reanalyse, self.status, self.dialog_parent = reanalyse, ctx.status, ctx.dialog_parent
        self.actions = actions = ctx.actions
        self._switching = False
        self._requested: Path | None = None
        self.dialog: CalibrateDialog | None = None
        actions[ActionId.CALIBRATE].triggered.connect(self.open_dialog)
        actions[ActionId.LOAD_MODEL].triggered.connect(self.choose_model)
        actions[ActionId.USE_BUNDLED].triggered.connect(lambda: self.activate(None))
        loader.loaded.connect(self._on_loaded)  # after the window's own slot: the classifier is in place
        loader.errored.connect(lambda *_: setattr(self, "_switching", False))

    def open_dialog(self) -> CalibrateDialog | None:
        from malaria_desktop.core.calibration.data import session_cells

        classifier = self.model.classifier
        if classifier is None:
            return None
        current = session_cells(self.document.session, "this slide")
        dialog = CalibrateDialog(Path(classifier.model_dir), current if current.images else None, self.dialog_parent)
        dialog.activateRequested.connect(self.activate)
        dialog.importRequested.connect(self.import_annotations)
        self.dialog = dialog
        dialog.show()
        return dialog

    def import_annotations(self, path: Path) -> None:
        """Label the open slide's cells from a COCO file (one undo step), so the technician sees and can
        correct what calibration will learn; a bad file is said in the dialog and changes nothing."""
        from malaria_desktop.core.calibration.annotations import label_session
        from malaria_desktop.core.calibration.data import session_cells
        from malaria_desktop.core.errors import MalariaDesktopError

        try:
            done = label_session(self.document.results, self.document.review, path)
        except MalariaDesktopError as exc:
            if self.dialog is not None:
                self.dialog.status.setText(str(exc))
            return
        text = (f"{done.labelled} cells of {done.images} image(s) labelled from {Path(path).name} "
                f"({done.boxes_matched} of {done.boxes} boxes matched; Ctrl+Z takes it back).")
        self.status(text, 10_000)
        if self.dialog is not None:
            self.dialog.set_current(session_cells(self.document.session, "this slide"))
            self.dialog.status.setText(text)

    def choose_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Model folder (model.onnx + model_card.json)")
        if folder:
            self.activate(Path(folder))

    def activate(self, model_dir: Path | None) -> None:
        """Load ``model_dir`` (None: the bundled model) in the background; then re-analyse the slide."""
        self._switching = True
        self._requested = model_dir
        self.status("Loading the model\u2026", 3000)
        self.loader.load(model_dir)

    def startup_folder(self) -> Path | None:
        """The model folder chosen last time, if it still holds a model card (else the bundled model)."""
        saved = str(self.settings.value(self.SETTING, "") or "") if self.settings is not None else ""
        if saved and (Path(saved) / "model_card.json").is_file():
            return Path(saved)
        if saved:
            log.warning("the model folder chosen last time is gone (%s); using the bundled model", saved)
        return None

    @Slot(object)
    def _on_loaded(self, classifier: Any) -> None:
        if not self._switching:
            return  # the window's first model load
        self._switching = False
        if self.settings is not None:  # the next start uses this model too
            self.settings.set_value(self.SETTING, str(self._requested) if self._requested is not None else "")
        self.document.set_threshold(classifier.card.threshold)
        done = [row for row, e in enumerate(self.document.entries) if e.state in ("done", "error")]
        for row in done:
            self.document.entries[row].state = "queued"
            self.document.entryChanged.emit(row)
        if done:
            self.reanalyse()
            self.status(f"Re-analysing {len(done)} image(s) with {classifier.card.name}; review edits are kept.",
                        8000)
        else:
            self.status(f"Now using {classifier.card.name}.", 5000)
        self.modelSwitched.emit(classifier)
