"""Each controller on its own: a real document, stub views, no main window (ndv's controller tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QPoint, Signal
from PySide6.QtWidgets import QMenu, QWidget

from malaria_desktop.core.review.session import load_session
from malaria_desktop.qt.actions import ACTIONS, ActionId, create_actions
from malaria_desktop.qt.controllers.analysis import AnalysisController
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.controllers.export import ExportController
from malaria_desktop.qt.controllers.model import ModelState
from malaria_desktop.qt.controllers.review import ReviewController
from malaria_desktop.qt.controllers.session import SessionController
from malaria_desktop.qt.controllers.viewer import ImageController
from malaria_desktop.qt.image_view import ImageView
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.settings import AppSettings
from malaria_desktop.qt.worker import AnalysisRunner
from tests.helpers.factories import image_result as fake_result
from tests.qt.waits import ANALYSIS_TIMEOUT_MS


class StubViewer:
    """Stands in for ImageController: records what the controller asked to show."""

    def __init__(self, current_key: str | None = None) -> None:
        self.current_key = current_key
        self.selected: list[str] = []
        self.shown: list[str] = []
        self.refreshed = 0
        self.cleared = 0

    def select_key(self, key: str) -> None:
        self.selected.append(key)
        self.current_key = key

    def show_image(self, key: str, force: bool = False) -> None:
        self.shown.append(key)
        self.current_key = key

    def refresh_overlays(self) -> None:
        self.refreshed += 1

    def clear(self) -> None:
        self.cleared += 1
        self.current_key = None


class StubProgress:
    def __init__(self) -> None:
        self.count = (0, 0)
        self.text = ""
        self.cancel_visible = False

    def show_images(self, done: int, total: int) -> None:
        self.count = (done, total)

    def set_text(self, text: str, *, wrap: bool = False) -> None:
        self.text = text

    def set_cancel_visible(self, visible: bool) -> None:
        self.cancel_visible = visible


class StubImageView(QObject):
    """The part of ImageView the review controller uses: a selected cell and the cell signals."""

    cellClicked = Signal(int)
    cellMenuRequested = Signal(int, QPoint)
    boxDrawn = Signal(tuple)
    stepRequested = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.selected_cell = -1
        self.add_mode = False

    @property
    def selected_cells(self) -> list[int]:
        return [self.selected_cell] if self.selected_cell >= 0 else []

    def select_cell(self, cell_id: int, *, centre: bool = False, add: bool = False) -> None:
        self.selected_cell = cell_id

    def reveal_cell(self, cell_id: int) -> None:
        pass

    def overlay_items(self) -> list:
        return []

    def set_add_mode(self, on: bool) -> None:
        self.add_mode = on


@pytest.fixture
def actions(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    yield create_actions(host)  # the host widget owns the actions: keep it alive for the test


def messages() -> tuple[list[str], object]:
    seen: list[str] = []
    return seen, lambda text, _ms=0: seen.append(text)


def test_action_table_is_complete_and_shortcuts_are_unique(actions):
    assert set(ACTIONS) == set(ActionId) == set(actions)
    shortcuts = [key.toString() for a in actions.values() for key in a.shortcuts() if not key.isEmpty()]
    assert len(shortcuts) == len(set(shortcuts)), sorted(shortcuts)
    assert actions[ActionId.OVERLAYS].isCheckable() and actions[ActionId.OVERLAYS].isChecked()
    assert actions[ActionId.FIT].iconText() == "Fit" and actions[ActionId.FIT].text() == "&Fit to Window"


def test_analysis_waits_for_the_model_then_analyses_the_queue(qtbot, actions, classifier, smear_dir, settings_file):
    document, model, viewer, progress = SlideDocument(), ModelState(), StubViewer(), StubProgress()
    runner = AnalysisRunner()
    ctx = ControllerContext(document, actions, AppSettings.at_path(settings_file), model, runner)
    controller = AnalysisController(ctx, runner, viewer, progress)
    field = sorted(smear_dir.glob("*.png"))[0]
    document.add_paths([field])
    controller.start_pending()
    assert progress.text == "1 image(s) queued. Waiting for the model to load\u2026"
    ctx.refresh_actions()
    assert not actions[ActionId.RESUME].isEnabled()
    model.classifier = classifier
    with qtbot.waitSignal(controller.idle, timeout=ANALYSIS_TIMEOUT_MS), \
            qtbot.waitSignal(controller.runFinished, timeout=ANALYSIS_TIMEOUT_MS):
        controller.start_pending()
        assert progress.cancel_visible and runner.running
    assert document.result(str(field)).status == "ok"
    assert viewer.selected == [str(field)]  # the first good image is shown as soon as it is ready
    assert progress.text == "Analysed 1 of 1 images." and not progress.cancel_visible
    counted = document.counts().total.auto_cells
    assert counted > 0 and progress.count == (1, 1)  # images analysed (cells vs target: the summary panel)
    runner.shutdown()


def test_review_labels_the_selected_cell_and_undoes(qtbot, actions, settings_file):
    document, viewer, view = SlideDocument(), StubViewer(), StubImageView()
    seen, status = messages()
    ctx = ControllerContext(document, actions, AppSettings.at_path(settings_file), status=status)  # type: ignore[arg-type]
    controller = ReviewController(ctx, viewer, view)  # type: ignore[arg-type]
    key = "a.png"
    document.set_result(fake_result(Path(key), [0.9, 0.2, 0.6]))
    viewer.current_key = key
    assert controller.label_selected("parasitized") is False and seen[-1].startswith("Click a cell first")
    view.selected_cell = 2
    actions[ActionId.MARK_PARASITIZED].trigger()
    assert document.review.overrides(key) == {2: "parasitized"} and viewer.refreshed == 1
    assert actions[ActionId.UNDO].isEnabled()
    actions[ActionId.UNDO].trigger()
    assert document.review.overrides(key) == {} and not actions[ActionId.UNDO].isEnabled()
    controller.undo()
    assert seen[-1] == "Nothing to undo."
    actions[ActionId.ADD_CELL].setChecked(True)
    assert view.add_mode
    view.boxDrawn.emit((1, 1, 8, 8))
    added = document.review.added_cells(key)
    assert len(added) == 1 and view.selected_cell in added and not actions[ActionId.ADD_CELL].isChecked()


def session_controller(qtbot, document: SlideDocument, settings_file: Path, viewer: StubViewer, errors: list):
    host = QWidget()
    qtbot.addWidget(host)
    actions = create_actions(host)
    seen, status = messages()
    runner = AnalysisRunner(host)
    ctx = ControllerContext(document, actions, AppSettings.at_path(settings_file), ModelState(), runner,
                            status=status, show_error=lambda *args: errors.append(args), dialog_parent=host)  # type: ignore[arg-type]
    controller = SessionController(ctx, runner, viewer, recent_menu=QMenu(host))
    return controller, host


def test_session_saves_opens_and_autosaves(qtbot, tmp_path, settings_file):
    errors: list = []
    document, viewer = SlideDocument(), StubViewer()
    controller, _host = session_controller(qtbot, document, settings_file, viewer, errors)
    document.set_result(fake_result(Path("a.png"), [0.9, 0.2]))
    with qtbot.waitSignal(controller.autosaved, timeout=10_000) as autosave:  # debounced, no sleep
        pass
    assert load_session(Path(autosave.args[0])).results.keys() == {"a.png"}
    with qtbot.waitSignal(controller.titleChanged) as title:
        path = controller.save_session_to(tmp_path / "s.mdsession")
    assert path is not None and title.args[0] == "Malaria Desktop \u2013 s.mdsession"
    assert [a.text() for a in controller.recent_menu.actions()][0] == "s.mdsession"

    other_doc, other_viewer = SlideDocument(), StubViewer()
    other, _other_host = session_controller(qtbot, other_doc, settings_file, other_viewer, errors)
    with qtbot.waitSignal(other.sessionOpened):
        assert other.open_session(path)
    assert other_viewer.cleared == 1 and other_viewer.selected == ["a.png"]
    assert not other.open_session(tmp_path / "missing.mdsession") and errors[-1][0] == "The session could not be opened"


def test_export_writes_the_report_folder(qtbot, tmp_path, settings_file):
    host = QWidget()
    qtbot.addWidget(host)
    actions = create_actions(host)
    document = SlideDocument()
    seen, status = messages()
    errors: list = []
    ctx = ControllerContext(document, actions, AppSettings.at_path(settings_file), status=status,  # type: ignore[arg-type]
                            show_error=lambda *a: errors.append(a), dialog_parent=host)
    controller = ExportController(ctx)
    ctx.refresh_actions()
    assert not actions[ActionId.EXPORT].isEnabled()
    document.set_result(fake_result(tmp_path / "a.png", [0.9, 0.2]))
    ctx.refresh_actions()
    assert actions[ActionId.EXPORT].isEnabled()
    with qtbot.waitSignal(controller.exported, timeout=30_000):
        controller.export_to(tmp_path / "report")
    assert (tmp_path / "report" / "slide.csv").is_file() and controller.progress_dialog is None
    assert seen[-1].startswith(f"Report written to {tmp_path / 'report'}.") and not errors
    controller.wait(10_000)


def test_image_controller_steps_through_images_and_draws_overlays(qtbot, actions, tmp_path, settings_file):
    import cv2
    import numpy as np

    view = ImageView()
    qtbot.addWidget(view)
    document = SlideDocument()
    selected: list[str] = []
    ctx = ControllerContext(document, actions, AppSettings.at_path(settings_file))
    controller = ImageController(ctx, view, select_key=selected.append)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), np.full((60, 130, 3), 200, np.uint8))
    document.add_paths([a, b])
    controller.step_image(1)
    assert selected == [str(a)]
    document.set_result(fake_result(a, [0.9, 0.2, 0.6]))
    with qtbot.waitSignal(controller.overlaysDrawn) as drawn:
        controller.show_image(str(a))
    assert drawn.args == [str(a)] and len(view.overlay_items()) == 3
    actions[ActionId.PARASITIZED_ONLY].trigger()
    assert view.visible_overlay_count() == 2
    controller.step_image(1)
    assert selected[-1] == str(b)
    controller.show_image(str(b))  # the file does not exist: a placeholder says so instead of a crash
    assert not view.has_image() and "b.png" in view.placeholder


def test_action_conditions_live_in_the_table_and_one_refresh_sets_them(actions):
    from malaria_desktop.qt.actions import ActionState, refresh_actions

    refresh_actions(actions, ActionState())
    assert not actions[ActionId.EXPORT].isEnabled() and not actions[ActionId.UNDO].isEnabled()
    assert actions[ActionId.OPEN].isEnabled()  # no condition: always enabled
    refresh_actions(actions, ActionState(has_model=True, pending=True, has_results=True, has_ok_results=True,
                                         can_undo=True))
    assert actions[ActionId.RESUME].isEnabled() and actions[ActionId.EXPORT].isEnabled()
    assert actions[ActionId.MARK_PARASITIZED].isEnabled() and actions[ActionId.UNDO].isEnabled()
    assert not actions[ActionId.CANCEL].isEnabled() and not actions[ActionId.REDO].isEnabled()


def test_no_controller_constructor_takes_more_than_five_parameters():
    """Issue 21: the shared services come as one context, not spelled again in every constructor."""
    import inspect

    from malaria_desktop.qt.calibration_dialog import ModelSwitcher
    from malaria_desktop.qt.controllers.gallery import GalleryController
    from malaria_desktop.qt.controllers.queues import QueueController
    from malaria_desktop.qt.controllers.summary import SummaryController
    from malaria_desktop.qt.print_report import PdfReportController

    classes = (AnalysisController, ExportController, GalleryController, ImageController, QueueController,
               ReviewController, SessionController, SummaryController, ModelSwitcher, PdfReportController)
    counts = {c.__name__: len(inspect.signature(c.__init__).parameters) - 1 for c in classes}  # without self
    assert max(counts.values()) <= 5, counts
