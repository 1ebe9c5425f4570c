"""The technician's reviewed cells as classifier inputs, from exported folders and saved sessions.

Two sources, one result (``ReviewedCells``):

- folders in the layout the app's export writes (``Parasitized/`` and ``Uninfected/`` at any depth,
  any capitalisation): each PNG/JPEG/TIFF/BMP is one cropped cell, decoded and re-cropped by the same
  ``crop_cell`` the app and training use. The field is the file name before ``_cell``; the slide is the
  file name's first ``_`` token (the export's ``C#########`` patient pseudonym, or an NIH ``C33P1``);
- ``.mdsession`` files: every cell the technician labelled or drew (``review.is_edited`` or added) with
  its reviewed label (*not a cell* marks as negatives, flagged ``not_cell``; cells accepted without being
  shown are not reviewed and left out), cropped from the field image the session points to (the image
  must still be there and unchanged). The field is the image, the slide is the session.

Field and slide labels let cross-validation keep the cells of one field or slide together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.image_io import SUPPORTED_SUFFIXES, load_image
from malaria_desktop.core.results import PARASITIZED
from malaria_desktop.core.review.state import NOT_CELL, reviewed_result

CLASS_FOLDERS = {"parasitized": 1, "uninfected": 0}
Row = tuple[np.ndarray, int, str, str, bool]  # crop, label (1 parasitized), field, slide, not a cell


class CalibrationInputError(MalariaDesktopError):
    """A REVIEWED input cannot be read (missing, not a folder of crops, a broken session)."""


@dataclass(frozen=True)
class ReviewedCells:
    """Crops ``(N, S, S, 3)`` uint8, labels ``(N,)`` (1 = parasitized), field and slide names per cell."""

    crops: np.ndarray
    labels: np.ndarray
    fields: tuple[str, ...]
    slides: tuple[str, ...]
    sources: tuple[str, ...]  # file names of the inputs (never absolute paths)
    skipped: tuple[str, ...] = ()  # why some cells or images were left out
    not_cell: np.ndarray | None = None  # bool (N,): regions marked not a cell (label 0; never red cells)

    @property
    def red_cells(self) -> np.ndarray:
        """Which cells are red cells (the denominator of the truth's parasitemia)."""
        return np.ones(len(self.labels), bool) if self.not_cell is None else ~np.asarray(self.not_cell, bool)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_parasitized(self) -> int:
        return int(self.labels.sum())


def _crop_files(folder: Path) -> list[tuple[Path, int]]:
    """(file, label) for every image under a Parasitized/ or Uninfected/ folder below ``folder``."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        label = CLASS_FOLDERS.get(Path(root).name.lower())
        if label is None:
            continue
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                out.append((Path(root) / name, label))
    return out


def field_of(name: str) -> str:
    """Field of an exported or NIH crop name: the stem before ``_cell`` (the whole stem otherwise)."""
    stem = Path(name).stem
    cut = stem.rfind("_cell")
    return stem[:cut] if cut > 0 else stem


def slide_of(name: str) -> str:
    """Slide/patient of a crop name: its first ``_`` token (``C123456789`` from the app's export)."""
    return Path(name).stem.split("_", 1)[0]


def _from_folder(folder: Path, size: int, skipped: list[str]) -> list[Row]:
    files = _crop_files(folder)
    if not files:
        raise CalibrationInputError(
            f"'{folder.name}' has no Parasitized/ or Uninfected/ folder with cell images; export reviewed "
            "cells from the app (File > Export) or pass a saved .mdsession file.")
    out = []
    for path, label in files:
        try:
            image = load_image(path)
        except MalariaDesktopError as exc:
            skipped.append(str(exc))
            continue
        h, w = image.shape[:2]
        crop = crop_cell(image, (0, 0, w, h), None, size)
        out.append((crop, label, f"{folder.name}/{field_of(path.name)}", f"{folder.name}/{slide_of(path.name)}",
                    False))
    return out


@dataclass(frozen=True)
class SessionCells:
    """What cropping a session's reviewed cells needs, copied out of the live session (thread-safe)."""

    name: str
    # (path, sha256, shape, ((cell, label, not_cell), ...)); not-a-cell marks are negatives (label 0)
    images: tuple[tuple[Path, str, tuple[int, int], tuple], ...]


def session_cells(session, name: str) -> SessionCells:
    """The reviewed cells (labelled, confirmed or drawn, and the not-a-cell marks as negatives) of a
    ``core.review.session.Session``; cells accepted without being shown are not reviewed and left out."""
    review = session.review
    images = []
    for key, result in session.results.items():
        if result.status != "ok":
            continue
        edited = {c for c in set(review.overrides(key)) | set(review.added_cells(key))
                  if not review.acceptance.is_unseen(key, c)}
        cells = tuple((cr.cell, int(cr.label == PARASITIZED), False)
                      for cr in reviewed_result(key, result, review).cells if cr.cell.cell_id in edited)
        cells += tuple((cr.cell, 0, True) for cr in result.cells
                       if cr.cell.cell_id in edited and review.override(key, cr.cell.cell_id) == NOT_CELL)
        if cells:
            images.append((Path(result.path), result.content_sha256, tuple(result.image_shape), cells))
    return SessionCells(name, tuple(images))


def crop_session_cells(source: SessionCells, size: int, skipped: list[str]) -> list[Row]:
    """Crop every reviewed cell from its field image (which must still be there and unchanged)."""
    out = []
    for path, sha, shape, cells in source.images:
        try:
            image = load_image(path, expect_sha256=sha)
        except MalariaDesktopError as exc:
            skipped.append(f"{source.name}: {len(cells)} reviewed cells left out: {exc}")
            continue
        if tuple(image.shape[:2]) != shape:
            skipped.append(f"{source.name}: {path.name} changed size since it was analysed; skipped")
            continue
        for cell, label, *mark in cells:
            crop = crop_cell(image, cell.bbox, cell.mask, size)
            out.append((crop, label, f"{source.name}/{path.name}", source.name, bool(mark and mark[0])))
    return out


def _from_session(path: Path, size: int, skipped: list[str]) -> list[Row]:
    from malaria_desktop.core.review.session import SessionError, load_session

    try:
        session = load_session(path)
    except SessionError as exc:
        raise CalibrationInputError(str(exc)) from exc
    return crop_session_cells(session_cells(session, path.name), size, skipped)


def load_reviewed(
    inputs: Iterable[Path | str], size: int, progress: Callable[[int, int], None] | None = None,
    sessions: Iterable[SessionCells] = (),
) -> ReviewedCells:
    """Collect the reviewed cells of every input (folder or ``.mdsession``, plus sessions already in
    memory, e.g. the GUI's open slide) as ``size``-pixel crops."""
    paths = [Path(p) for p in inputs]
    rows: list[Row] = []
    skipped: list[str] = []
    live = list(sessions)
    for source in live:
        rows += crop_session_cells(source, size, skipped)
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i, len(paths))
        if path.is_dir():
            rows += _from_folder(path, size, skipped)
        elif path.is_file() and path.suffix.lower() == ".mdsession":
            rows += _from_session(path, size, skipped)
        elif path.exists():
            raise CalibrationInputError(f"'{path.name}' is neither a folder of reviewed crops nor a .mdsession file.")
        else:
            raise CalibrationInputError(f"'{path}' does not exist.")
    if progress is not None:
        progress(len(paths), len(paths))
    crops = np.stack([r[0] for r in rows]) if rows else np.zeros((0, size, size, 3), np.uint8)
    return ReviewedCells(
        crops=crops, labels=np.array([r[1] for r in rows], np.int64), fields=tuple(r[2] for r in rows),
        slides=tuple(r[3] for r in rows), sources=tuple([s.name for s in live] + [p.name for p in paths]),
        skipped=tuple(skipped), not_cell=np.array([r[4] for r in rows], bool))


__all__ = ["CalibrationInputError", "ReviewedCells", "SessionCells", "load_reviewed", "session_cells",
           "field_of", "slide_of"]
