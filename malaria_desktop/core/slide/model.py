"""The open slide, headless: a core ``Session`` plus each image's run state, one undo history, notifications.

Why in core: the queue, the undo history and image removal are the slide's working state, not the window's;
the CLI, batch runs and tests drive this model without Qt, and the Qt layer (``qt/models.py``) only turns
its notifications into signals.

The model wraps one ``Session`` (metadata, image paths, automatic results, review edits, settings) and adds
only what is transient: each image's run state (queued / analysing / done / error / missing) and progress
text. Every change goes through a method here and is announced to the subscribers as a ``SlideEvent``.

Undo/redo (``undo``/``redo``): one history holds the review's steps and the removal of images from the
slide, so undo takes back whichever came last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from malaria_desktop.core.results import ImageResult, Progress
from malaria_desktop.core.review.session import (
    Session,
    SessionMetadata,
    default_settings,
    missing_images,
    summary_options,
)
from malaria_desktop.core.review.state import (
    ImageKey,
    ReviewChange,
    ReviewedCounts,
    ReviewState,
    apply_threshold,
    image_key,
)
from malaria_desktop.core.settings import ReportSettings
from malaria_desktop.core.slide.count_cache import CountCache

State = Literal["queued", "analysing", "done", "error", "missing"]
STAGE_TEXT = {"loading": "Loading\u2026", "segmenting": "Segmenting\u2026", "classifying": "Classifying\u2026",
              "done": "Done"}
REVIEW_STEP = "review"  # a history entry that is one step of the ReviewState's own undo stack
MAX_HISTORY = 10_000

EventKind = Literal["entries", "entry", "review", "metadata", "counts", "modified"]


@dataclass(frozen=True)
class SlideEvent:
    """What changed: ``entries`` (rows added/removed, a session loaded), ``entry`` (one ``row``), ``review``
    (``change``), ``metadata``, ``counts`` (summaries must be recomputed), ``modified`` (worth autosaving)."""

    kind: EventKind
    row: int = -1
    change: ReviewChange | None = None


@dataclass
class ImageEntry:
    """One image of the slide and its run state."""

    path: Path
    state: State = "queued"
    error: str = ""
    detail: str = ""  # progress text while analysing

    @property
    def key(self) -> ImageKey:
        return image_key(self.path)


@dataclass(frozen=True)
class RemovedImage:
    """An image taken out of the slide, with what is needed to put it back where it was."""

    row: int
    entry: ImageEntry
    path_index: int
    result: ImageResult | None


class SlideModel:
    """The open slide: a core Session plus per-image run state; tells its subscribers about every change."""

    def __init__(self) -> None:
        self.session = Session()
        self.entries: list[ImageEntry] = []
        self.session_path: Path | None = None
        self._row_index: dict[ImageKey, int] = {}  # progress events look rows up thousands of times
        self._history: list[object] = []  # REVIEW_STEP or RemovedImage, oldest first
        self._future: list[object] = []
        self._removed_keys: set[ImageKey] = set()
        self._count_cache = CountCache()  # one edit recounts one image
        self._subscribers: list[Callable[[SlideEvent], None]] = []
        self._unsubscribe_review = self.session.review.subscribe(self._on_review)

    # --- notifications -----------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[SlideEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every ``SlideEvent``; returns the function that stops it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _notify(self, *kinds: EventKind, row: int = -1, change: ReviewChange | None = None) -> None:
        for kind in kinds:
            event = SlideEvent(kind, row, change)
            for callback in list(self._subscribers):
                callback(event)

    # --- queries -----------------------------------------------------------------------------------
    @property
    def review(self) -> ReviewState:
        return self.session.review

    @property
    def results(self) -> dict[ImageKey, ImageResult]:
        return self.session.results

    @property
    def metadata(self) -> SessionMetadata:
        return self.session.metadata

    @property
    def threshold(self) -> float:
        return float(self.session.settings.get("threshold", 0.5))

    def row_of(self, key: ImageKey) -> int:
        """The row of an image (-1: not in the slide); an index checked against the list, not a scan."""
        row = self._row_index.get(key)
        if row is not None and row < len(self.entries) and self.entries[row].key == key:
            return row
        self._row_index = {entry.key: i for i, entry in enumerate(self.entries)}  # the list changed
        return self._row_index.get(key, -1)

    def entry(self, key: ImageKey) -> ImageEntry | None:
        row = self.row_of(key)
        return self.entries[row] if row >= 0 else None

    def result(self, key: ImageKey) -> ImageResult | None:
        return self.session.results.get(key)

    def pending_paths(self) -> list[Path]:
        """Images still to analyse (queued or interrupted while analysing)."""
        return [e.path for e in self.entries if e.state in ("queued", "analysing")]

    def is_empty(self) -> bool:
        return not self.entries

    def counts(self) -> ReviewedCounts:
        """Automatic and reviewed counts per image and in total (``review.reviewed_counts``)."""
        edges = summary_options(self.session.settings)["count_edge_cells"]  # same rule as the summary panel
        return self._count_cache.counts(self.session.results, self.session.review, edges)

    # --- images and results ------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> list[Path]:
        """Queue new images (already expanded to files); returns those that were not in the slide yet."""
        known = {e.key for e in self.entries}
        new = []
        for path in map(Path, paths):
            if image_key(path) in known:
                continue
            known.add(image_key(path))
            self.entries.append(ImageEntry(path))
            self.session.image_paths.append(path)
            new.append(path)
        if new:
            self._notify("entries", "modified")
        return new

    def mark_progress(self, progress: Progress) -> None:
        row = self.row_of(image_key(progress.path))
        if row < 0 or self.entries[row].state in ("done", "error"):
            return
        entry = self.entries[row]
        entry.state = "analysing"
        entry.detail = STAGE_TEXT.get(progress.stage, progress.stage)  # cell counts are in the progress bar
        self._notify("entry", row=row)

    def set_result(self, result: ImageResult) -> None:
        """Store an engine result (automatic verdicts at the slide's threshold)."""
        if result.status == "ok" and abs(result.threshold - self.threshold) > 1e-9:
            result = apply_threshold(result, self.threshold)
        key = image_key(result.path)
        if key in self._removed_keys and self.row_of(key) < 0:
            return  # the technician removed this image while it was being analysed
        self.session.set_result(result)
        row = self.row_of(key)
        if row < 0:
            self.entries.append(ImageEntry(Path(result.path)))
            row = len(self.entries) - 1
            self._notify("entries")
        entry = self.entries[row]
        entry.state = "done" if result.status == "ok" else "error"
        entry.error = result.error
        entry.detail = ""
        self._notify("entry", row=row)
        self._notify("counts", "modified")

    def remove_image(self, key: ImageKey) -> bool:
        """Take an image (and its cells) out of the slide; undoable. False when it is not in the slide."""
        row = self.row_of(key)
        if row < 0:
            return False
        entry = self.entries.pop(row)
        index = next((i for i, p in enumerate(self.session.image_paths) if image_key(p) == key), -1)
        if index >= 0:
            self.session.image_paths.pop(index)
        record = RemovedImage(row, entry, index, self.session.results.pop(key, None))
        self._removed_keys.add(key)
        self._push(record)
        self._notify("entries", "counts", "modified")
        return True

    def requeue_interrupted(self) -> None:
        """After a cancel: images caught mid-analysis go back to queued."""
        for row, entry in enumerate(self.entries):
            if entry.state == "analysing":
                entry.state, entry.detail = "queued", ""
                self._notify("entry", row=row)

    def remove_pending(self) -> int:
        """Drop images that were never analysed (the technician cancelled the run)."""
        keep = [e for e in self.entries if e.state not in ("queued", "analysing")]
        removed = len(self.entries) - len(keep)
        if removed:
            keys = {e.key for e in keep}
            self.entries = keep
            self.session.image_paths = [p for p in self.session.image_paths if image_key(p) in keys]
            self._notify("entries", "modified")
        return removed

    # --- one undo history for review edits and image removals ---------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def _push(self, step: object) -> None:
        self._history.append(step)
        del self._history[:-MAX_HISTORY]
        self._future.clear()

    def undo(self) -> object | None:
        """Undo the last review step or image removal; returns what was undone (None: nothing)."""
        return self._step(self._history, self._future, undo=True)

    def redo(self) -> object | None:
        """Redo the last undone step; returns it (None: nothing to redo)."""
        return self._step(self._future, self._history, undo=False)

    def _step(self, source: list[object], target: list[object], *, undo: bool) -> object | None:
        while source:
            step = source.pop()
            if step == REVIEW_STEP:
                if not (self.session.review.undo() if undo else self.session.review.redo()):
                    continue  # that image's edits were forgotten (re-analysed): nothing left there
            elif isinstance(step, RemovedImage) and undo:
                self._restore(step)
            elif isinstance(step, RemovedImage):
                self._remove_again(step)
            target.append(step)
            return step
        return None

    def _restore(self, record: RemovedImage) -> None:
        key = record.entry.key
        self.entries.insert(min(record.row, len(self.entries)), record.entry)
        if record.path_index >= 0:
            self.session.image_paths.insert(min(record.path_index, len(self.session.image_paths)),
                                            record.entry.path)
        if record.result is not None:
            self.session.results[key] = record.result
        self._removed_keys.discard(key)
        self._notify("entries", "counts", "modified")

    def _remove_again(self, record: RemovedImage) -> None:
        key = record.entry.key
        row = self.row_of(key)
        if row >= 0:
            self.entries.pop(row)
        self.session.image_paths = [p for p in self.session.image_paths if image_key(p) != key]
        self.session.results.pop(key, None)
        self._removed_keys.add(key)
        self._notify("entries", "counts", "modified")

    # --- settings ----------------------------------------------------------------------------------
    def set_threshold(self, threshold: float) -> None:
        """New decision threshold: automatic verdicts are recomputed from the stored probabilities."""
        if abs(threshold - self.threshold) < 1e-12:
            return
        self.session.settings = self.session.settings.replace(threshold=float(threshold))
        for key, result in list(self.session.results.items()):
            self.session.results[key] = apply_threshold(result, threshold)
        for row in range(len(self.entries)):
            self._notify("entry", row=row)
        self._notify("counts", "modified")

    def set_settings(self, **values: Any) -> None:
        """Validated (``ReportSettings.replace`` raises SettingsError for an impossible value)."""
        self.session.settings = self.session.settings.replace(**values)
        self._notify("counts", "modified")

    def set_metadata(self, metadata: SessionMetadata) -> None:
        if metadata == self.session.metadata:
            return
        self.session.metadata = replace(metadata)
        self._notify("metadata", "modified")

    # --- whole session -----------------------------------------------------------------------------
    def new_session(self, settings: Mapping[str, Any] | None = None, model: dict[str, Any] | None = None) -> None:
        session = Session(settings=ReportSettings.from_mapping(settings) if settings else default_settings(),
                          model=dict(model or {}))
        self.load(session, None)

    def load(self, session: Session, path: Path | None) -> list[Path]:
        """Show a (loaded) session; returns the images whose files are missing."""
        self._unsubscribe_review()
        self.session = session
        self.session_path = path
        session.review.clear_history()
        self._history.clear()
        self._future.clear()
        self._removed_keys.clear()
        self._unsubscribe_review = session.review.subscribe(self._on_review)
        missing = {image_key(p) for p in missing_images(session)}
        self.entries = [_entry(Path(p), session.results.get(image_key(p)), image_key(p) in missing)
                        for p in session.image_paths]
        self._notify("entries", "metadata", "counts")
        return [e.path for e in self.entries if e.state == "missing"]

    def _on_review(self, change: ReviewChange) -> None:
        if change.kind == "edit":
            self._push(REVIEW_STEP)
        row = self.row_of(change.image_key)
        if row >= 0:
            self._notify("entry", row=row)
        self._notify("review", change=change)
        self._notify("counts", "modified")


def _entry(path: Path, result: ImageResult | None, missing: bool) -> ImageEntry:
    if missing:
        return ImageEntry(path, "missing", "The image file is no longer at this path.")
    if result is None:
        return ImageEntry(path)
    return ImageEntry(path, "done" if result.status == "ok" else "error", result.error)
