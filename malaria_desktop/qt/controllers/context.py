"""The services every controller shares, passed as one object; the callable and viewer types, defined once.

Why: nine controllers took 76 constructor arguments, most of them the same few services (the document, the
settings, the status line, the error box, the dialog parent) spelled again at every call; adding one meant
editing every constructor and test. A controller now takes this context plus only what is its own.
It also refreshes every action's enabled state in one place, from the conditions in the actions table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PySide6.QtWidgets import QWidget

from malaria_desktop.core.classification.model_card import UncertainBand
from malaria_desktop.qt.actions import Actions, ActionState, refresh_actions
from malaria_desktop.qt.controllers.model import ModelState
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.settings import AppSettings
from malaria_desktop.qt.worker import GeneratorRunner

StatusFn = Callable[[str, int], None]  # the status line: (text, milliseconds shown)


class ErrorFn(Protocol):
    """The one error box (``MainWindow.show_error``)."""

    def __call__(self, title: str, message: str, details: str = "") -> None: ...


class Viewer(Protocol):
    """What controllers use of the image on screen (``ImageController``)."""

    current_key: str | None

    def select_key(self, key: str) -> None: ...

    def show_image(self, key: str, force: bool = False) -> None: ...

    def refresh_overlays(self) -> None: ...

    def clear(self) -> None: ...


def _no_status(text: str, ms: int = 0) -> None:
    """Controllers built without a window (tests, tools) have no status line."""


def _raise_error(title: str, message: str, details: str = "") -> None:
    raise RuntimeError(f"{title}: {message}")  # no error box: never swallow an error silently


@dataclass
class ControllerContext:
    """The open slide and the window's shared services; one per window."""

    document: SlideDocument
    actions: Actions
    settings: AppSettings
    model: ModelState = field(default_factory=ModelState)
    runner: GeneratorRunner | None = None  # the analysis runner (its state enables actions)
    status: StatusFn = _no_status
    show_error: ErrorFn = _raise_error
    dialog_parent: QWidget | None = None
    commit_metadata: Callable[[], None] = lambda: None  # a metadata field being edited belongs to the slide
    recoverable: bool = False  # an earlier run left an autosave to recover (the session controller knows)

    def band(self) -> UncertainBand:
        """The uncertain band in use: the model card's calibrated one, else threshold ± the margin."""
        return self.model.band(self.document.threshold, self.settings.uncertain_margin)

    def action_state(self) -> ActionState:
        doc = self.document
        return ActionState(
            has_model=self.model.classifier is not None, running=bool(self.runner and self.runner.running),
            pending=bool(doc.pending_paths()), has_entries=bool(doc.entries), has_results=bool(doc.results),
            has_ok_results=any(r.status == "ok" for r in doc.results.values()),
            has_missing=any(e.state == "missing" for e in doc.entries), can_undo=doc.can_undo,
            can_redo=doc.can_redo, recoverable=self.recoverable)

    def refresh_actions(self) -> None:
        """Enable every action whose table entry has a condition, from the slide's state now."""
        refresh_actions(self.actions, self.action_state())
