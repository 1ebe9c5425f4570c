"""Every command of the window, declared as data (pymmcore-gui's ``actions/``, napari's ``Action``).

An ``ActionId`` names a command; ``ACTIONS`` says how it looks (menu text, toolbar text, shortcuts, tip,
checkable) and when it is enabled (a condition on ``ActionState``, next to the action). ``create_actions``
turns the table into ``QAction``s; controllers connect the ones they own to their slots, the window places
them in menus and toolbars by id, and ``refresh_actions`` (called from one place, the controller context)
enables them. Nothing here knows what an action does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

K = QKeySequence.StandardKey


class ActionId(str, Enum):
    NEW = "file.new"
    OPEN = "file.open_images"
    OPEN_FOLDER = "file.open_folder"
    OPEN_SESSION = "file.open_session"
    RECOVER = "file.recover_autosave"
    LOCATE = "file.locate_moved"
    SAVE = "file.save"
    SAVE_AS = "file.save_as"
    EXPORT = "file.export"
    SETTINGS = "file.settings"
    QUIT = "file.quit"
    RESUME = "analysis.resume"
    CANCEL = "analysis.cancel"
    ZOOM_IN = "view.zoom_in"
    ZOOM_OUT = "view.zoom_out"
    FIT = "view.fit"
    ACTUAL = "view.actual_size"
    OVERLAYS = "view.overlays"
    PARASITIZED_ONLY = "view.parasitized_only"
    UNCERTAIN_ONLY = "view.uncertain_only"
    NEXT_IMAGE = "view.next_image"
    PREV_IMAGE = "view.previous_image"
    MARK_PARASITIZED = "review.mark_parasitized"
    MARK_UNINFECTED = "review.mark_uninfected"
    MARK_NOT_CELL = "review.mark_not_cell"
    REVERT = "review.revert"
    UNDO = "review.undo"
    REDO = "review.redo"
    NEXT_UNCERTAIN = "review.next_uncertain"
    NEXT_CONFIRM = "review.next_confirm"
    REVIEW_UNCERTAIN = "review.gallery_uncertain"
    ADD_CELL = "review.add_cell"
    PRINT_PDF = "file.print_pdf"
    REMOVE_IMAGE = "file.remove_image"
    GALLERY = "view.gallery"
    REVIEW_PARASITIZED = "review.gallery_parasitized"
    SPLIT_CELL = "review.split_cell"
    SPLIT_CELL_3 = "review.split_cell_3"
    MERGE_CELLS = "review.merge_cells"
    ABOUT = "help.about"
    CALIBRATE = "analysis.calibrate"
    LOAD_MODEL = "analysis.load_model"
    USE_BUNDLED = "analysis.use_bundled_model"


@dataclass(frozen=True)
class ActionState:
    """What the enabled conditions read: a snapshot of the open slide, the model and the analysis."""

    has_model: bool = False
    running: bool = False  # an analysis is running
    pending: bool = False  # images wait to be analysed
    has_entries: bool = False
    has_results: bool = False  # any result, failed images included
    has_ok_results: bool = False  # cells to review
    has_missing: bool = False  # image files no longer at their path
    can_undo: bool = False
    can_redo: bool = False
    recoverable: bool = False  # an autosave of an earlier run exists


Condition = Callable[[ActionState], bool]


def _reviewable(state: ActionState) -> bool:
    return state.has_ok_results


@dataclass(frozen=True)
class ActionInfo:
    """How one command looks and when it is enabled (``None``: always); ``icon_text`` is the shorter
    toolbar label (menus keep ``text``)."""

    text: str
    shortcuts: tuple[str | QKeySequence.StandardKey, ...] = ()
    tip: str = ""
    checkable: bool = False
    checked: bool = False
    icon_text: str = ""
    enabled: Condition | None = None


A = ActionInfo
ACTIONS: dict[ActionId, ActionInfo] = {
    ActionId.OPEN: A("&Open Images\u2026", (K.Open,), tip="Add field images to this slide"),
    ActionId.OPEN_FOLDER: A("Open &Folder\u2026", ("Ctrl+Shift+O",)),
    ActionId.NEW: A("&New Slide", (K.New,)),
    ActionId.OPEN_SESSION: A("Open &Session\u2026", ("Ctrl+Alt+O",)),
    ActionId.SAVE: A("&Save Session", (K.Save,)),
    ActionId.SAVE_AS: A("Save Session &As\u2026", (K.SaveAs,)),
    ActionId.RECOVER: A("Recover &Autosaved Session", enabled=lambda s: s.recoverable),
    ActionId.LOCATE: A("&Locate Moved Images\u2026", enabled=lambda s: s.has_missing),
    ActionId.EXPORT: A("&Export Report\u2026", ("Ctrl+E",), enabled=lambda s: s.has_results),
    ActionId.SETTINGS: A("Se&ttings\u2026", (K.Preferences,)),
    ActionId.QUIT: A("&Quit", (K.Quit,)),
    ActionId.RESUME: A("&Analyse Remaining Images", ("Ctrl+R",),
                       enabled=lambda s: s.has_model and not s.running and s.pending),
    ActionId.CANCEL: A("&Cancel Analysis", ("Ctrl+.",), enabled=lambda s: s.running),
    ActionId.ZOOM_IN: A("Zoom &In", (K.ZoomIn,), icon_text="Zoom +"),
    ActionId.ZOOM_OUT: A("Zoom &Out", (K.ZoomOut,), icon_text="Zoom \u2212"),
    ActionId.FIT: A("&Fit to Window", ("Ctrl+0",), icon_text="Fit"),
    ActionId.ACTUAL: A("Actual Size (&1:1)", ("Ctrl+1",), icon_text="1:1"),
    ActionId.OVERLAYS: A("Show &Overlays", ("O",), checkable=True, checked=True, icon_text="Overlays"),
    ActionId.PARASITIZED_ONLY: A("&Parasitized Only", ("Ctrl+Shift+P",), checkable=True,
                                 icon_text="Parasitized only"),
    ActionId.UNCERTAIN_ONLY: A("&Uncertain Only", ("Ctrl+Shift+U",), checkable=True, icon_text="Uncertain only"),
    ActionId.NEXT_IMAGE: A("Next Image", ("Ctrl+PgDown",)),
    ActionId.PREV_IMAGE: A("Previous Image", ("Ctrl+PgUp",)),
    ActionId.ABOUT: A("&About Malaria Desktop"),
    ActionId.CALIBRATE: A("Ca&librate to This Lab\u2026", tip="Fine-tune the model on this lab's reviewed cells",
                          enabled=lambda s: s.has_model),
    ActionId.LOAD_MODEL: A("&Load Model\u2026", tip="Use a model folder (e.g. one calibrated on another PC)"),
    ActionId.USE_BUNDLED: A("Use the &Bundled Model"),
    ActionId.MARK_PARASITIZED: A("Mark as &Parasitized", ("P",), icon_text="Parasitized (P)", enabled=_reviewable),
    ActionId.MARK_UNINFECTED: A("Mark as &Uninfected", ("U",), icon_text="Uninfected (U)", enabled=_reviewable),
    ActionId.MARK_NOT_CELL: A("Mark as &Not a Cell", ("N",), icon_text="Not a cell (N)", enabled=_reviewable),
    ActionId.REVERT: A("&Revert to Model's Verdict", ("Backspace",), enabled=_reviewable),
    ActionId.PRINT_PDF: A("&Print / Export PDF\u2026", (K.Print,), tip="A printable report with the figures, "
                          "flagged cells and a line for the reviewer's signature", enabled=lambda s: s.has_results),
    ActionId.REMOVE_IMAGE: A("&Remove Image from Slide", ("Ctrl+Del",),
                             tip="Take the image on screen out of this slide (Ctrl+Z puts it back)",
                             enabled=lambda s: s.has_entries),
    ActionId.GALLERY: A("Cell &Gallery", ("Ctrl+G",), tip="Review the slide's cells as thumbnails (P/U/N keys)",
                        icon_text="Gallery"),
    ActionId.REVIEW_PARASITIZED: A("Confirm &Parasitized Calls in Gallery", ("Ctrl+Shift+G",),
                                   tip="The gallery shows the likely parasitized cells still to confirm"),
    ActionId.REVIEW_UNCERTAIN: A("Review &Uncertain Cells in Gallery", ("Ctrl+Alt+G",),
                                 tip="The gallery shows the uncertain cells still to review"),
    ActionId.SPLIT_CELL: A("&Split Cell in Two", ("S",), tip="The selected region is two touching cells",
                           icon_text="Split (S)", enabled=_reviewable),
    ActionId.SPLIT_CELL_3: A("Split Cell in &Three", ("Shift+S",), enabled=_reviewable),
    ActionId.MERGE_CELLS: A("&Merge Selected Cells", ("M",), icon_text="Merge (M)",
                            tip="Ctrl+click (or Shift+arrow) cells to select several, then M joins them into one",
                            enabled=_reviewable),
    ActionId.UNDO: A("&Undo", (K.Undo,), icon_text="Undo", enabled=lambda s: s.can_undo),
    ActionId.REDO: A("&Redo", (K.Redo,), icon_text="Redo", enabled=lambda s: s.can_redo),
    ActionId.NEXT_UNCERTAIN: A("Next Uncertain Cell", (K.FindNext, "Space"),
                               tip="Walk the uncertain queue; P/U/N then moves on to its next cell (F3)",
                               icon_text="Uncertain (F3)", enabled=_reviewable),
    ActionId.NEXT_CONFIRM: A("Next Cell to Confirm", ("F4",),
                             tip="Walk the likely parasitized cells to confirm; P/U/N moves on (F4)",
                             icon_text="Confirm (F4)"),
    ActionId.ADD_CELL: A("Add Missed Cell", ("A",), checkable=True, icon_text="Add missed cell (A)",
                         tip="Draw a box around a cell the program missed (or Shift+drag at any time)",
                         enabled=_reviewable),
}
del A

Actions = Mapping[ActionId, QAction]


def make_action(info: ActionInfo, parent: QWidget) -> QAction:
    """One QAction from its description, added to ``parent`` so its shortcut works without a menu bar."""
    action = QAction(info.text, parent)
    action.setShortcuts([QKeySequence(key) for key in info.shortcuts])
    action.setCheckable(info.checkable)
    action.setChecked(info.checked)
    if info.tip:
        action.setStatusTip(info.tip)
        action.setToolTip(info.tip)
    if info.icon_text:
        action.setIconText(info.icon_text)
    parent.addAction(action)
    return action


def refresh_actions(actions: Actions, state: ActionState) -> None:
    """Enable each action whose table entry has a condition (the one place enabled states are set)."""
    for action_id, info in ACTIONS.items():
        if info.enabled is not None:
            actions[action_id].setEnabled(info.enabled(state))


def create_actions(parent: QWidget) -> dict[ActionId, QAction]:
    """Every action of the table, in table order (the order menus list them when built from a range)."""
    return {action_id: make_action(info, parent) for action_id, info in ACTIONS.items()}
