"""Where the actions appear: the menu bar and the two toolbars, as tables of ``ActionId``s.

``actions.py`` says what each command looks like; this module says where it is placed. ``None`` in a
table is a separator; ``RECENT`` is the File menu's recent-sessions submenu, filled by the session
controller.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMenu, QMenuBar

from malaria_desktop.qt.action_bar import ActionBar
from malaria_desktop.qt.actions import ActionId, Actions
from malaria_desktop.qt.controllers.review import MENU_ACTIONS as REVIEW_MENU

Id = ActionId  # short: the tables read as lists of ids
SEPARATOR = None
RECENT = "recent"
MenuItem = ActionId | str | None
FILE_MENU: tuple[MenuItem, ...] = (
    Id.NEW, Id.OPEN, Id.OPEN_FOLDER, SEPARATOR, Id.OPEN_SESSION, RECENT, Id.RECOVER, Id.LOCATE, SEPARATOR,
    Id.SAVE, Id.SAVE_AS, SEPARATOR, Id.EXPORT, Id.PRINT_PDF, SEPARATOR, Id.SETTINGS, SEPARATOR, Id.QUIT,
)
MENUS: dict[str, tuple[MenuItem, ...]] = {
    "&File": FILE_MENU,
    "&Edit": (Id.UNDO, Id.REDO, SEPARATOR, Id.REMOVE_IMAGE),
    "&View": (Id.ZOOM_IN, Id.ZOOM_OUT, Id.FIT, Id.ACTUAL, SEPARATOR, Id.OVERLAYS, Id.PARASITIZED_ONLY,
              Id.UNCERTAIN_ONLY, SEPARATOR, Id.GALLERY, Id.REVIEW_PARASITIZED, Id.REVIEW_UNCERTAIN, SEPARATOR,
              Id.NEXT_IMAGE, Id.PREV_IMAGE),
    "&Analysis": (Id.RESUME, Id.CANCEL, SEPARATOR, Id.CALIBRATE, Id.LOAD_MODEL, Id.USE_BUNDLED),
    "&Review": (Id.NEXT_CONFIRM, *REVIEW_MENU),
    "&Help": (Id.ABOUT,),
}
VIEW_TOOLBAR: tuple[ActionId | None, ...] = (
    Id.FIT, Id.ACTUAL, Id.ZOOM_IN, Id.ZOOM_OUT, SEPARATOR, Id.OVERLAYS, Id.PARASITIZED_ONLY, Id.UNCERTAIN_ONLY,
)
# every review action has a button: a narrow window wraps the bar onto a second line (qt.action_bar)
REVIEW_TOOLBAR: tuple[ActionId | None, ...] = (
    Id.UNDO, Id.REDO, SEPARATOR, Id.MARK_PARASITIZED, Id.MARK_UNINFECTED, Id.MARK_NOT_CELL, SEPARATOR,
    Id.NEXT_CONFIRM, Id.NEXT_UNCERTAIN, Id.GALLERY, SEPARATOR, Id.ADD_CELL, Id.SPLIT_CELL, Id.MERGE_CELLS,
)


def build_menu_bar(bar: QMenuBar, actions: Actions) -> QMenu:
    """Fill the menu bar from ``MENUS``; returns the (empty) recent-sessions submenu."""
    recent: QMenu | None = None
    for title, items in MENUS.items():
        menu = bar.addMenu(title)
        for item in items:
            if item is None:
                menu.addSeparator()
            elif item == RECENT:
                recent = menu.addMenu("Open &Recent Session")
            else:
                menu.addAction(actions[ActionId(item)])
    assert recent is not None, "FILE_MENU names RECENT"
    return recent


def make_toolbar(name: str, ids: tuple[ActionId | None, ...], actions: Actions) -> ActionBar:
    """A text-only bar labelled ``name:`` with these actions (menus keep the longer text); it wraps, so a
    narrow window shows every button on two lines instead of hiding some behind an overflow arrow."""
    bar = ActionBar(name)
    for action_id in ids:
        bar.addSeparator() if action_id is None else bar.addAction(actions[action_id])
    return bar
