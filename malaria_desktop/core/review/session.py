"""A slide's whole working state — metadata, images, results, review edits, settings — saved and reopened.

Why: a technician must be able to close the app (or have it crash) mid-review and lose nothing, and a
report must be reproducible later from the same file.

API (used by the Qt GUI; no Qt here):

- ``SessionMetadata(patient_id, slide_id, operator, date, notes)`` — all strings, stored exactly as typed
  (an empty or unusual date stays what it is: a session never invents a date).
- ``Session(metadata, image_paths, results, review, settings, model)``: ``results`` maps
  ``ImageKey`` (= ``str(path)``, see ``review.image_key``) to the engine's automatic ``ImageResult``;
  ``review`` is a ``ReviewState``; ``settings`` is a validated ``core.settings.ReportSettings`` (a mapping
  passed in is converted and checked; keys missing from an older file get the defaults);
  ``model`` is free-form info about the model used (e.g. the model card's name/version).
  ``session.set_result(result)`` adds/replaces one image's result.
- ``save_session(session, path)``: versioned JSON (``SESSION_FORMAT``/``SESSION_VERSION``), checked against
  the schema (``core.review.session_schema``) and written through ``core.atomic``: a crash or full disk leaves the
  previous file intact. Text is written ASCII-escaped, so file names that are not valid UTF-8 round-trip.
- ``load_session(path) -> Session``: raises ``SessionError`` (a message for the technician) when the file is
  missing, too large, not JSON, not a session, from a newer version, or breaks the schema (wrong types,
  out-of-range settings, NaN, boxes outside their image, absurd sizes, deep nesting); the file itself is
  never modified. Images that moved do *not* fail the load: ``missing_images(session)`` lists them so the
  GUI can say so; ``relocate_images(session, folder)`` re-points missing images to same-named files.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import malaria_desktop.core.review.session_schema as schema
from malaria_desktop import __version__
from malaria_desktop.core import atomic
from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review.state import ImageKey, ReviewState, image_key
from malaria_desktop.core.settings import ReportSettings, SettingsError

SESSION_FORMAT = "malaria-desktop-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".mdsession"


class SessionError(MalariaDesktopError):
    """A session file could not be read or written; the message says why in plain words."""


@dataclass
class SessionMetadata:
    """Who and what the slide is; written into every export."""

    patient_id: str = ""
    slide_id: str = ""
    operator: str = ""
    date: str = ""  # ISO date (YYYY-MM-DD) as typed by the technician; never rewritten
    notes: str = ""


def default_settings(threshold: float = 0.5) -> ReportSettings:
    """Settings a new session starts with (threshold normally comes from the model card)."""
    return ReportSettings(threshold=float(threshold))


def summary_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``report.summarise_slide`` keyword arguments from session settings (missing keys: the defaults)."""
    typed = settings if isinstance(settings, ReportSettings) else ReportSettings.from_mapping(settings)
    return typed.summary_kwargs()


@dataclass
class Session:
    """Everything needed to reopen a slide exactly as it was left."""

    metadata: SessionMetadata = field(default_factory=SessionMetadata)
    image_paths: list[Path] = field(default_factory=list)
    results: dict[ImageKey, ImageResult] = field(default_factory=dict)
    review: ReviewState = field(default_factory=ReviewState)
    settings: ReportSettings = field(default_factory=ReportSettings)
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.settings, ReportSettings):
            self.settings = ReportSettings.from_mapping(self.settings)

    def set_result(self, result: ImageResult) -> None:
        """Store one image's automatic result (adds the path to ``image_paths`` if new)."""
        key = image_key(result.path)
        self.results[key] = result
        if all(image_key(p) != key for p in self.image_paths):
            self.image_paths.append(Path(result.path))


# ----- encoding -----------------------------------------------------------------------------------------
def settings_of(session: Session) -> ReportSettings:
    """The session's settings as the typed object (a plain mapping assigned later is validated here)."""
    settings = session.settings
    return settings if isinstance(settings, ReportSettings) else ReportSettings.from_mapping(settings)


def _check_head(session: Session) -> None:
    """The non-result parts against the schema (the results are checked once each, when encoded)."""
    for f in fields(SessionMetadata):
        schema.text(getattr(session.metadata, f.name), f"metadata {f.name}")
    schema.sequence(session.image_paths, "image_paths", schema.MAX_IMAGES)
    for p in session.image_paths:
        schema.text(str(p), "image path", schema.MAX_PATH_TEXT)
    shapes = {k: r.image_shape for k, r in session.results.items() if r.status == "ok"}
    schema.check_added_cells(session.review.to_dict(), shapes)


def session_to_dict(session: Session, *, results: bool = True) -> dict[str, Any]:
    """The JSON document ``save_session`` writes (``results=False`` leaves the results out)."""
    data = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "app_version": __version__,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metadata": asdict(session.metadata),
        "image_paths": [str(p) for p in session.image_paths],
        "settings": settings_of(session).to_dict(),
        "model": dict(session.model),
        "review": session.review.to_dict(),
    }
    if results:
        data["results"] = {key: schema.encode_result(r) for key, r in session.results.items()}
    return data


def _dumps(value: Any) -> str:
    # ASCII escapes: a file name with undecodable bytes (lone surrogates) is written and read back exactly
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


# Results are immutable, so their JSON is cached (and schema-checked once): an autosave after each review
# click re-encodes only the small parts that change (metadata, review), not thousands of contours.
_RESULT_JSON: weakref.WeakKeyDictionary[ImageResult, str] = weakref.WeakKeyDictionary()


def _result_json(key: ImageKey, result: ImageResult) -> str:
    if image_key(result.path) != key:
        raise schema.SchemaError(f"the result of {key!r:.80} is stored under another image's name")
    try:
        return _RESULT_JSON[result]
    except (KeyError, TypeError):
        pass
    item = schema.encode_result(result)
    schema.decode_result(item, key, budget=[schema.MAX_MASK_PIXELS], masks=False)  # it must read back
    text = _dumps(item)
    try:
        _RESULT_JSON[result] = text
    except TypeError:  # unhashable (e.g. odd warnings type): just do not cache
        pass
    return text


def session_to_json(session: Session) -> str:
    """The text ``save_session`` writes: ``session_to_dict`` as compact JSON, results from the cache.

    Raises SchemaError (a ValueError) when the session breaks the schema, so nothing unreadable is written.
    """
    _check_head(session)
    head = session_to_dict(session, results=False)
    results = ",".join(f"{_dumps(key)}:{_result_json(key, r)}" for key, r in session.results.items())
    return _dumps(head)[:-1] + ',"results":{' + results + "}}"


def session_from_dict(data: Any) -> Session:
    """Inverse of :func:`session_to_dict`; raises SessionError for anything that is not a valid session."""
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise SessionError("This file is not a Malaria Desktop session.")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError("The session file has no valid format version; it is damaged.")
    if version > SESSION_VERSION:
        raise SessionError(
            f"This session was saved by a newer Malaria Desktop (session format {version}); "
            f"this version reads format {SESSION_VERSION} or older. Please update the app."
        )
    try:
        return _decode(data)
    except (SettingsError, schema.SchemaError) as exc:
        raise SessionError(f"The session file is damaged or was altered and cannot be opened: {exc}.") from exc
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError, MemoryError) as exc:
        raise SessionError(f"The session file is damaged and cannot be opened ({type(exc).__name__}: {exc}).") from exc


def _decode(data: dict[str, Any]) -> Session:
    raw_meta = schema.mapping(data.get("metadata", {}), "metadata")
    known = {f.name for f in fields(SessionMetadata)}
    metadata = SessionMetadata(**{k: schema.text(v, f"metadata {k}") for k, v in raw_meta.items() if k in known})
    settings = ReportSettings.from_mapping(schema.mapping(data.get("settings", {}), "settings"))
    raw_results = schema.mapping(data["results"], "results")
    if len(raw_results) > schema.MAX_IMAGES:
        raise schema.SchemaError(f"more than {schema.MAX_IMAGES:,} results")
    budget = [schema.MAX_MASK_PIXELS]
    results = {schema.text(k, "result name", schema.MAX_PATH_TEXT): schema.decode_result(v, k, budget)
               for k, v in raw_results.items()}
    paths = schema.sequence(data["image_paths"], "image_paths", schema.MAX_IMAGES)
    review_data = schema.mapping(data.get("review", {}), "review")
    schema.check_added_cells(review_data, {k: r.image_shape for k, r in results.items() if r.status == "ok"})
    return Session(
        metadata=metadata,
        image_paths=[Path(schema.text(p, "image path", schema.MAX_PATH_TEXT)) for p in paths],
        results=results,
        review=ReviewState.from_dict(review_data),
        settings=settings,
        model=dict(schema.plain_data(schema.mapping(data.get("model", {}), "model"), "model")),
    )


# ----- files --------------------------------------------------------------------------------------------
def save_session(session: Session, path: str | Path) -> Path:
    """Save atomically as JSON; raises SessionError (previous file untouched) when it cannot be written."""
    path = Path(path)
    try:
        atomic.write_text(path, session_to_json(session))
    except OSError as exc:
        raise SessionError(f"Could not save the session to {path}: {exc.strerror or exc}.") from exc
    except (ValueError, TypeError, RecursionError, MalariaDesktopError) as exc:  # schema, NaN, odd model info
        raise SessionError(f"Could not save the session: {exc}.") from exc
    return path


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a session may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def load_session(path: str | Path) -> Session:
    """Read a session file; SessionError with a plain message when it is missing, damaged or too new."""
    path = Path(path)
    try:
        if path.stat().st_size > schema.MAX_SESSION_BYTES:
            raise SessionError(f"The session file {path.name} is larger than "
                               f"{schema.MAX_SESSION_BYTES // 2**20} MB; it is not a session this app wrote.")
        if not path.is_file():
            raise SessionError(f"{path} is not a regular file.")
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SessionError(f"The session file {path} does not exist.") from exc
    except OSError as exc:
        raise SessionError(f"Could not read the session file {path}: {exc.strerror or exc}.") from exc
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SessionError(f"The session file {path.name} is damaged (not valid JSON) and cannot be opened.") from exc
    return session_from_dict(data)


def missing_images(session: Session) -> list[Path]:
    """Image files of the session that are no longer where they were (moved, renamed, drive absent)."""
    return [p for p in session.image_paths if not Path(p).is_file()]


def rename_image(session: Session, old: str | Path, new: str | Path) -> None:
    """Re-point one image (path, result and review edits) to a new location."""
    old_key, new_key = image_key(old), image_key(new)
    session.image_paths = [Path(new) if image_key(p) == old_key else p for p in session.image_paths]
    if old_key in session.results:
        session.results[new_key] = replace(session.results.pop(old_key), path=Path(new))
    session.review.rename_image(old_key, new_key)


def relocate_images(session: Session, folder: str | Path) -> list[Path]:
    """Point missing images at same-named files found directly in ``folder``; returns the new paths found."""
    folder = Path(folder)
    found = []
    for old in missing_images(session):
        candidate = folder / Path(old).name
        if candidate.is_file():
            rename_image(session, old, candidate)
            found.append(candidate)
    return found
