"""A slide's whole working state — metadata, images, results, review edits, settings — saved and reopened.

Why: a technician must be able to close the app (or have it crash) mid-review and lose nothing, and a
report must be reproducible later from the same file.

API (used by the Qt GUI; no Qt here):

- ``SessionMetadata(patient_id, slide_id, operator, date, notes)`` — all strings.
- ``Session(metadata, image_paths, results, review, settings, model)``: ``results`` maps
  ``ImageKey`` (= ``str(path)``, see ``review.image_key``) to the engine's automatic ``ImageResult``;
  ``review`` is a ``ReviewState``; ``settings`` holds ``threshold``, ``rbc_per_ul``, ``hyper_cutoff_pct``,
  ``target_cells``, ``min_cells``, ``count_edge_cells`` (see ``default_settings``; keys missing from an older
  file get the defaults on load); ``model`` is free-form info about the model used (e.g. the
  model card's name/version). ``session.set_result(result)`` adds/replaces one image's result.
- ``save_session(session, path)``: versioned JSON (``SESSION_FORMAT``/``SESSION_VERSION``), written
  atomically (temp file + fsync + rename): a crash or full disk leaves the previous file intact.
  Cells are stored with bbox, centroid, area, contour, probability, label, edge; the mask is rebuilt on load
  with ``cv2.fillPoly`` from the contour, and stored explicitly (packed bits, base64) only for the rare
  cell whose mask the contour does not reproduce exactly (holes, several parts) — so a round trip is exact.
- ``load_session(path) -> Session``: raises ``SessionError`` (a message for the technician) when the file is
  missing, not JSON, not a session, from a newer version, or damaged; the file itself is never modified.
  Images that moved do *not* fail the load: ``missing_images(session)`` lists them so the GUI can say so;
  ``relocate_images(session, folder)`` re-points missing images to same-named files in another folder.
- ``autosave_path()``: ``paths.user_data_dir()/autosave/autosave.mdsession``.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from malaria_desktop import __version__
from malaria_desktop.core import report
from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review import ImageKey, ReviewState, image_key
from malaria_desktop.paths import user_data_dir

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
    date: str = ""  # ISO date (YYYY-MM-DD) as typed by the technician
    notes: str = ""


def default_settings(threshold: float = 0.5) -> dict[str, Any]:
    """Settings a new session starts with (threshold normally comes from the model card)."""
    return {
        "threshold": float(threshold),
        "rbc_per_ul": report.DEFAULT_RBC_PER_UL,
        "hyper_cutoff_pct": report.DEFAULT_HYPER_CUTOFF_PCT,
        "target_cells": report.DEFAULT_TARGET_CELLS,
        "min_cells": report.DEFAULT_MIN_CELLS,
        "count_edge_cells": True,
    }


def summary_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``report.summarise_slide`` keyword arguments from session settings (missing keys: the defaults)."""
    s = {**default_settings(), **settings}
    return dict(rbc_per_ul=float(s["rbc_per_ul"]), target_cells=int(s["target_cells"]),
                min_cells=int(s["min_cells"]), hyper_cutoff_pct=float(s["hyper_cutoff_pct"]),
                count_edge_cells=bool(s["count_edge_cells"]))


@dataclass
class Session:
    """Everything needed to reopen a slide exactly as it was left."""

    metadata: SessionMetadata = field(default_factory=SessionMetadata)
    image_paths: list[Path] = field(default_factory=list)
    results: dict[ImageKey, ImageResult] = field(default_factory=dict)
    review: ReviewState = field(default_factory=ReviewState)
    settings: dict[str, Any] = field(default_factory=default_settings)
    model: dict[str, Any] = field(default_factory=dict)

    def set_result(self, result: ImageResult) -> None:
        """Store one image's automatic result (adds the path to ``image_paths`` if new)."""
        key = image_key(result.path)
        self.results[key] = result
        if all(image_key(p) != key for p in self.image_paths):
            self.image_paths.append(Path(result.path))


def autosave_path() -> Path:
    """Where the GUI autosaves the current session (created folder; user data dir, never the app folder)."""
    folder = user_data_dir() / "autosave"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"autosave{SESSION_SUFFIX}"


# ----- encoding -----------------------------------------------------------------------------------------
def _mask_from_contour(contour: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = bbox
    mask = np.zeros((h, w), np.uint8)
    if len(contour):
        cv2.fillPoly(mask, [np.asarray(contour, np.int32).reshape(-1, 1, 2) - np.array([x, y], np.int32)], 1)
    return mask.astype(bool)


def _encode_mask(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask.astype(bool), axis=None).tobytes()).decode("ascii")


def _decode_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(base64.b64decode(text, validate=True), np.uint8))
    count = shape[0] * shape[1]
    if bits.size < count:
        raise ValueError("stored mask is too short")
    return bits[:count].reshape(shape).astype(bool)


def _float_or_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _encode_cell(cr: CellResult) -> dict[str, Any]:
    cell = cr.cell
    contour = np.asarray(cell.contour, np.int32).reshape(-1, 2)
    item: dict[str, Any] = {
        "id": int(cell.cell_id),
        "bbox": [int(v) for v in cell.bbox],
        "centroid": [float(v) for v in cell.centroid],
        "area": int(cell.area_px),
        "contour": contour.ravel().tolist(),
        "p": _float_or_none(cr.probability),
        "label": cr.label,
        "edge": bool(cell.on_edge),
    }
    mask = np.asarray(cell.mask, bool)
    if mask.shape != _mask_shape(cell.bbox) or not np.array_equal(mask, _mask_from_contour(contour, cell.bbox)):
        item["mask"] = _encode_mask(mask)
        item["mask_shape"] = list(mask.shape)
    return item


def _mask_shape(bbox: tuple[int, int, int, int]) -> tuple[int, int]:
    return int(bbox[3]), int(bbox[2])


def _decode_cell(item: dict[str, Any], image_shape: tuple[int, int]) -> CellResult:
    x, y, w, h = (int(v) for v in item["bbox"])
    bbox = (x, y, w, h)
    height, width = image_shape
    if not (1 <= w <= width + 64 and 1 <= h <= height + 64):  # a damaged size must not allocate gigabytes
        raise ValueError(f"cell bbox {bbox} does not fit the {width}x{height} image")
    contour = np.asarray(item["contour"], np.int32).reshape(-1, 2)
    if "mask" in item:
        if tuple(int(v) for v in item["mask_shape"]) != (h, w):
            raise ValueError(f"stored mask shape {item['mask_shape']} does not match bbox {bbox}")
        mask = _decode_mask(item["mask"], (h, w))
    else:
        mask = _mask_from_contour(contour, bbox)
    cx, cy = (float(v) for v in item["centroid"])
    cell = Cell(int(item["id"]), bbox, (cx, cy), int(item["area"]), mask, contour, bool(item["edge"]))
    p = item["p"]
    label = item["label"]
    if label not in ("parasitized", "uninfected"):
        raise ValueError(f"unknown cell label {label!r}")
    return CellResult(cell, math.nan if p is None else float(p), label)


def _encode_result(result: ImageResult) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "status": result.status,
        "error": result.error,
        "image_shape": [int(v) for v in result.image_shape],
        "cell_diameter_px": float(result.cell_diameter_px),
        "warnings": list(result.warnings),
        "threshold": float(result.threshold),
        "cells": [_encode_cell(cr) for cr in result.cells],
    }


def _decode_result(item: dict[str, Any]) -> ImageResult:
    status = item["status"]
    if status not in ("ok", "error"):
        raise ValueError(f"unknown image status {status!r}")
    height, width = (int(v) for v in item["image_shape"])
    return ImageResult(
        path=Path(item["path"]),
        status=status,
        error=str(item.get("error", "")),
        image_shape=(height, width),
        cells=tuple(_decode_cell(c, (height, width)) for c in item["cells"]),
        cell_diameter_px=float(item.get("cell_diameter_px", 0.0)),
        warnings=tuple(str(w) for w in item.get("warnings", ())),
        threshold=float(item.get("threshold", 0.5)),
    )


def session_to_dict(session: Session, *, results: bool = True) -> dict[str, Any]:
    """The JSON document ``save_session`` writes (``results=False`` leaves the results out)."""
    data = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "app_version": __version__,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metadata": asdict(session.metadata),
        "image_paths": [str(p) for p in session.image_paths],
        "settings": dict(session.settings),
        "model": dict(session.model),
        "review": session.review.to_dict(),
    }
    if results:
        data["results"] = {key: _encode_result(r) for key, r in session.results.items()}
    return data


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# Results are immutable, so their JSON is cached: an autosave after each review click re-encodes only
# the small parts that change (metadata, review), not thousands of contours.
_RESULT_JSON: weakref.WeakKeyDictionary[ImageResult, str] = weakref.WeakKeyDictionary()


def _result_json(result: ImageResult) -> str:
    try:
        return _RESULT_JSON[result]
    except (KeyError, TypeError):
        pass
    text = _dumps(_encode_result(result))
    try:
        _RESULT_JSON[result] = text
    except TypeError:  # unhashable (e.g. odd warnings type): just do not cache
        pass
    return text


def session_to_json(session: Session) -> str:
    """The text ``save_session`` writes: ``session_to_dict`` as compact JSON, results from the cache."""
    head = session_to_dict(session, results=False)
    results = ",".join(f"{_dumps(key)}:{_result_json(r)}" for key, r in session.results.items())
    return _dumps(head)[:-1] + ',"results":{' + results + "}}"


def session_from_dict(data: Any) -> Session:
    """Inverse of :func:`session_to_dict`; raises SessionError for anything that is not a valid session."""
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise SessionError("This file is not a Malaria Desktop session.")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise SessionError("The session file has no valid format version; it is damaged.")
    if version > SESSION_VERSION:
        raise SessionError(
            f"This session was saved by a newer Malaria Desktop (session format {version}); "
            f"this version reads format {SESSION_VERSION} or older. Please update the app."
        )
    try:
        known = {f for f in SessionMetadata.__dataclass_fields__}
        metadata = SessionMetadata(**{k: str(v) for k, v in dict(data.get("metadata", {})).items() if k in known})
        settings = default_settings()
        settings.update(dict(data.get("settings", {})))
        results = {str(k): _decode_result(v) for k, v in dict(data["results"]).items()}
        return Session(
            metadata=metadata,
            image_paths=[Path(p) for p in data["image_paths"]],
            results=results,
            review=ReviewState.from_dict(data.get("review", {})),
            settings=settings,
            model=dict(data.get("model", {})),
        )
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError, MemoryError) as exc:
        raise SessionError(f"The session file is damaged and cannot be opened ({type(exc).__name__}: {exc}).") from exc


# ----- files --------------------------------------------------------------------------------------------
def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder + fsync + rename (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_session(session: Session, path: str | Path) -> Path:
    """Save atomically as JSON; raises SessionError (previous file untouched) when it cannot be written."""
    path = Path(path)
    try:
        write_text_atomic(path, session_to_json(session))
    except OSError as exc:
        raise SessionError(f"Could not save the session to {path}: {exc.strerror or exc}.") from exc
    except ValueError as exc:  # NaN/inf in settings etc.
        raise SessionError(f"Could not save the session: {exc}.") from exc
    return path


def load_session(path: str | Path) -> Session:
    """Read a session file; SessionError with a plain message when it is missing, damaged or too new."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SessionError(f"The session file {path} does not exist.") from exc
    except OSError as exc:
        raise SessionError(f"Could not read the session file {path}: {exc.strerror or exc}.") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
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
