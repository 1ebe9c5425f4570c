"""Export a reviewed session: CSV reports (automatic AND reviewed figures), annotated images, training crops.

Why: the report must say exactly what was counted, by the model and after review; and the technician's
corrections must flow back to training (reviewed crops in the NIH folder layout that ``training/`` reads).

API: ``export_session(session, out_dir, *, crops="reviewed", annotate=True, progress=None) -> ExportSummary``.
Settings (``threshold``, ``rbc_per_ul``, ``hyper_cutoff_pct``, ``target_cells``, optional ``min_cells`` and
``count_edge_cells``) come from ``session.settings``; automatic labels are recomputed at
``settings["threshold"]`` when it differs from the threshold an image was analysed with.

Layout written under ``out_dir`` (CSV files via ``report.write_csv_atomic``: UTF-8, formula-safe, atomic):

- ``cells.csv``: ``report.CELL_COLUMNS`` + ``reviewed_label`` (parasitized / uninfected / not_cell) and
  ``reviewed`` (1 = the technician labelled the cell, confirmations included). Cells the technician drew are
  included with ``probability`` and ``label`` empty and ``reviewed=1``.
- ``images.csv``: ``report.IMAGE_COLUMNS`` (automatic) + ``reviewed_n_cells``, ``reviewed_n_parasitized``,
  ``reviewed_parasitemia_pct``, ``reviewed_parasites_per_ul``, ``n_reviewed``, ``n_changed``,
  ``annotated_png`` (relative path, empty when the image file is missing).
- ``slide.csv``: one row: session metadata (patient_id, slide_id, operator, date, notes), ``exported_at``,
  ``app_version``, ``model``, ``threshold``, then ``report.SLIDE_COLUMNS`` (automatic) and the reviewed
  figures (``reviewed_rbc_counted``, ``reviewed_target_reached``, ``reviewed_n_parasitized``,
  ``reviewed_parasitemia_pct``, ``reviewed_parasites_per_ul``, ``reviewed_flags``), ``n_reviewed`` (cells the
  technician labelled and saw), ``n_changed``, the reviewed estimate (``reviewed_parasitemia_estimate_pct``,
  ``reviewed_parasitemia_ci_low_pct``/``high_pct``, ``reviewed_slide_result``, ``reviewed_detection_limit_pct``:
  ``core.report.estimate`` with the rates the session stored about its model) and ``n_accepted_unseen`` (labels
  given to cells nobody saw: select-all + accept; not counted as reviewed).
- ``annotated/<NN>_<image stem>.png``: every counted cell outlined in its reviewed colour (not_cell grey),
  reviewed cells dotted, counts in a strip above the field (``annotate.draw_annotations``).
- ``crops/Parasitized/``, ``crops/Uninfected/``: one PNG per cell (``crops="reviewed"``: only cells the
  technician labelled or drew; ``"all"``: every cell with its reviewed label; ``"none"``: no crops).
  not_cell cells are skipped. Each crop is ``crops.crop_cell(image, bbox, mask, max(w, h))`` — the same
  function and masking the app and training use, black outside the cell like the NIH crops.
  Name: ``<group>_<NN>_<image stem>_cell<id>.png``. ``<group>`` is ``C`` + 9 digits, a stable pseudonym
  derived (HMAC-SHA256 under this installation's secret, ``core.pseudonym``: a bare hash gave the patient
  ID back from a list of likely IDs) from the session's patient ID (else slide ID, else its image paths,
  undecodable file-name bytes included): training's patient
  parser (``^C\\d+``) then keeps every cell of one patient in the same split, the 9 digits never clash with
  the NIH ids (C1…C2xx), and the patient ID itself is not written into training file names.
  ``crops/manifest.csv`` lists every crop (path, label, patient_id = group, source_field, cell_id,
  automatic_label, probability, reviewed, edge).
- ``session.mdsession``: a copy of the session, so the export can be reopened and audited.
- ``extra_files`` (name -> writer): files other parts add to the folder, written after the rest and before
  the manifest; the window adds ``slide.fhir.json``, the FHIR R4 Bundle (``interop.fhir``, docs/fhir.md).
- ``manifest.json``: every file above with its SHA-256, written last (``core.report.manifest``).

The folder is written as a unit (``core.atomic.AtomicFolder``): everything goes into a staging sibling
that replaces the folder only when complete, so a failed or killed export leaves the previous export
whole, and a re-export keeps no file of the previous one (no other patient's ``annotated/*.png``). A folder
holding files that an export did not write is refused (``ExportError``) instead of being replaced. The
session is checked against its schema first (a box outside its image is an ``ExportError``, not a raw
ValueError).

Images whose file is missing (moved), changed since analysis (content hash, or size for sessions from
before hashes were recorded) still get their CSV rows (the results are in the session) but no annotated
PNG or crops, so no crop is ever cut from another picture; ``ExportSummary.missing_images`` lists them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

import malaria_desktop.core.report.counts as report
from malaria_desktop import __version__
from malaria_desktop.core.atomic import AtomicFolder, write_bytes, write_text
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.errors import ImageChangedError, MalariaDesktopError
from malaria_desktop.core.pseudonym import pseudonym
from malaria_desktop.core.report.annotate import draw_annotations, encode_png
from malaria_desktop.core.report.estimate import rates_from_model_info
from malaria_desktop.core.report.manifest import MANIFEST_NAME, unlisted_files, write_manifest
from malaria_desktop.core.results import CellResult, ImageResult
from malaria_desktop.core.review.session import Session, session_to_json, settings_of
from malaria_desktop.core.review.state import (
    NOT_CELL,
    ImageKey,
    ReviewState,
    apply_threshold,
    reviewed_result,
)
from malaria_desktop.core.review.tally import review_tally

CropMode = Literal["reviewed", "all", "none"]
CELL_EXTRA = ("reviewed_label", "reviewed")
IMAGE_EXTRA = ("reviewed_n_cells", "reviewed_n_parasitized", "reviewed_parasitemia_pct", "reviewed_parasites_per_ul",
               "n_reviewed", "n_changed", "annotated_png")
META_COLUMNS = ("patient_id", "slide_id", "operator", "date", "notes", "exported_at", "app_version", "model",
                "threshold")
SLIDE_EXTRA = ("reviewed_rbc_counted", "reviewed_target_reached", "reviewed_n_parasitized",
               "reviewed_parasitemia_pct", "reviewed_parasites_per_ul", "reviewed_flags", "n_reviewed", "n_changed",
               "reviewed_parasitemia_estimate_pct", "reviewed_parasitemia_ci_low_pct",
               "reviewed_parasitemia_ci_high_pct", "reviewed_slide_result", "reviewed_detection_limit_pct",
               "n_accepted_unseen")
MANIFEST_COLUMNS = ("path", "label", "patient_id", "source_field", "cell_id", "automatic_label", "probability",
                    "reviewed", "edge")
CROP_FOLDERS = {"parasitized": "Parasitized", "uninfected": "Uninfected"}
EXPORT_ENTRIES = frozenset({"cells.csv", "images.csv", "slide.csv", "session.mdsession", "annotated", "crops",
                            MANIFEST_NAME})


class ExportError(MalariaDesktopError):
    """The export folder could not be written (message for the technician)."""


@dataclass
class ExportSummary:
    """What an export wrote, for the GUI's confirmation message."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    n_annotated: int = 0
    n_crops: dict[str, int] = field(default_factory=lambda: {"parasitized": 0, "uninfected": 0})
    missing_images: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def patient_group(session: Session) -> str:
    """``C`` + 9 digits: stable pseudonymous patient group for crop names (see module docstring)."""
    meta = session.metadata
    seed = meta.patient_id.strip() or meta.slide_id.strip()
    seed = f"patient:{seed}" if seed else "images:" + "|".join(sorted(str(p) for p in session.image_paths))
    return pseudonym(seed)


def safe_name(text: str, limit: int = 60) -> str:
    """A portable file-name fragment: ASCII letters/digits/``.-_`` kept, the rest ``_``.

    ASCII only because OpenCV's ``imread`` (used by training) cannot open non-ASCII paths on Windows.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")  # Ü -> U
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "_", ascii_text).strip("._-") or "image"
    return cleaned[:limit]


def _image_names(keys: list[ImageKey]) -> dict[ImageKey, str]:
    width = max(2, len(str(len(keys))))
    return {key: f"{i + 1:0{width}d}_{safe_name(Path(key).stem)}" for i, key in enumerate(keys)}


def _automatic(session: Session) -> dict[ImageKey, ImageResult]:
    threshold = settings_of(session).threshold
    out = {}
    for key, result in session.results.items():
        if result.status == "ok" and threshold != result.threshold:
            result = apply_threshold(result, threshold)
        out[key] = result
    return out


def _n_changed(key: ImageKey, result: ImageResult, review: ReviewState) -> int:
    """Cells whose reviewed label differs from the automatic one, plus drawn cells that count."""
    changed = sum(1 for cr in result.cells if review.label_of(key, cr) != cr.label)
    return changed + sum(1 for a in review.added_cells(key).values() if a.label != NOT_CELL)


def _cell_rows(key: ImageKey, auto: ImageResult, review: ReviewState) -> list[list[Any]]:
    rows = []
    for cr, row in zip(auto.cells, report.cell_rows(auto), strict=True):
        rows.append(row + [review.label_of(key, cr), int(review.is_edited(key, cr.cell.cell_id))])
    added_ids = set(review.added_cells(key))
    drawn = [cr for cr in reviewed_result(key, auto, review).cells if cr.cell.cell_id in added_ids]
    label_col = report.CELL_COLUMNS.index("label")
    for cr, row in zip(drawn, report.cell_rows(_with_cells(auto, drawn)), strict=True):
        row[label_col] = ""
        rows.append(row + [cr.label, 1])
    # drawn cells later marked not_cell: keep a row so the report shows what the technician did
    for cid, added in sorted(review.added_cells(key).items()):
        if added.label == NOT_CELL:
            x, y, w, h = added.bbox
            row = [str(auto.path), cid, x, y, w, h, f"{x + w / 2:.1f}", f"{y + h / 2:.1f}", "", "", "", "", ""]
            rows.append(row + [NOT_CELL, 1])
    return rows


def _with_cells(result: ImageResult, cells: list[CellResult]) -> ImageResult:
    return replace(result, cells=tuple(cells))


def export_session(
    session: Session,
    out_dir: str | Path,
    *,
    crops: CropMode = "reviewed",
    annotate: bool = True,
    progress: Callable[[int, int], None] | None = None,
    extra_files: Mapping[str, Callable[[Path], Path]] | None = None,
) -> ExportSummary:
    """Write the whole export as one unit (see module docstring); ExportError when it cannot."""
    out = Path(out_dir)
    try:
        session_json = session_to_json(session)  # the schema check: nothing invalid reaches the files
    except (ValueError, TypeError, RecursionError, MalariaDesktopError) as exc:
        raise ExportError(f"The session cannot be exported: {exc}.") from exc
    extra = dict(extra_files or {})
    folder = AtomicFolder(out, allowed=EXPORT_ENTRIES | frozenset(extra), foreign=unlisted_files)
    try:
        with folder as stage:
            summary = _export(session, stage, crops, annotate, progress)
            summary.files.append(write_text(stage / "session.mdsession", session_json))
            summary.files += [write(stage / name) for name, write in extra.items()]
            write_manifest(stage, "export", patient_group=patient_group(session))
    except MalariaDesktopError as exc:  # a folder of other files, a file in the way
        raise ExportError(f"Could not write the export to {out}: {exc}") from exc
    except OSError as exc:
        raise ExportError(f"Could not write the export to {out}: {exc.strerror or exc}.") from exc
    summary.out_dir = out
    summary.files = [out / f.relative_to(stage) for f in summary.files]
    return summary


@dataclass
class _Job:
    """One export's inputs, computed once: automatic and reviewed results, file names, the summary."""

    session: Session
    out: Path
    automatic: dict[ImageKey, ImageResult]
    reviewed: dict[ImageKey, ImageResult]
    names: dict[ImageKey, str]
    summary: ExportSummary

    @property
    def keys(self) -> list[ImageKey]:
        return list(self.automatic)


def _export(
    session: Session, out: Path, crops: CropMode, annotate: bool, progress: Callable[[int, int], None] | None
) -> ExportSummary:
    automatic = _automatic(session)
    job = _Job(session, out, automatic, {k: reviewed_result(k, r, session.review) for k, r in automatic.items()},
               _image_names(list(automatic)), ExportSummary(out))
    # images first, so images.csv can say which PNG belongs to which image
    annotated_rel = _write_pictures(job, crops, annotate, progress)
    cell_rows = [row for k in job.keys if automatic[k].status == "ok"
                 for row in _cell_rows(k, automatic[k], session.review)]
    job.summary.files.append(report.write_csv_atomic(out / "cells.csv", report.CELL_COLUMNS + CELL_EXTRA, cell_rows))
    totals = _write_images_csv(job, annotated_rel)
    _write_slide_csv(job, totals)
    return job.summary


def _write_pictures(job: _Job, crops: CropMode, annotate: bool,
                    progress: Callable[[int, int], None] | None) -> dict[ImageKey, str]:
    """Annotated PNGs and crops of every image whose file is still the analysed one; returns PNG paths."""
    review, out, summary = job.session.review, job.out, job.summary
    annotated_rel: dict[ImageKey, str] = {}
    wanted_crops: list[dict[str, Any]] = []
    group = patient_group(job.session)
    for done, key in enumerate(job.keys):
        if progress is not None:
            progress(done, len(job.keys))
        auto = job.automatic[key]
        if auto.status != "ok" or (not annotate and crops == "none"):
            continue
        image = _load_checked(auto, summary)
        if image is None:
            continue
        if annotate:
            rel = f"annotated/{job.names[key]}.png"
            added_ids = set(review.added_cells(key))
            drawn = [cr for cr in job.reviewed[key].cells if cr.cell.cell_id in added_ids]  # reviewed label
            labels = {cr.cell.cell_id: review.label_of(key, cr) for cr in auto.cells}
            picture = draw_annotations(image, [*auto.cells, *drawn], labels,
                                       reviewed={*review.overrides(key), *added_ids}, title=_ascii(Path(key).name))
            summary.files.append(write_bytes(out / rel, encode_png(picture)))
            annotated_rel[key] = rel
            summary.n_annotated += 1
        if crops != "none":
            wanted_crops += _write_crops(key, image, auto, job.reviewed[key], review, crops, group, job.names[key],
                                         out, summary)
    if progress is not None:
        progress(len(job.keys), len(job.keys))
    if crops != "none":
        _write_manifest(out, wanted_crops, summary)
    return annotated_rel


def _write_images_csv(job: _Job, annotated_rel: dict[ImageKey, str]) -> tuple[int, int]:
    """images.csv (automatic + reviewed figures per image); returns (cells reviewed, cells changed)."""
    settings, review = settings_of(job.session), job.session.review
    rows = []
    n_reviewed_total = n_changed_total = 0
    for key in job.keys:
        auto = job.automatic[key]
        auto_s = report.summarise_image(auto, rbc_per_ul=settings.rbc_per_ul,
                                        count_edge_cells=settings.count_edge_cells)
        rev_s = report.summarise_image(job.reviewed[key], rbc_per_ul=settings.rbc_per_ul,
                                       count_edge_cells=settings.count_edge_cells)
        n_reviewed = len(review.overrides(key)) + len(review.added_cells(key)) if auto.status == "ok" else 0
        n_changed = _n_changed(key, auto, review) if auto.status == "ok" else 0
        n_reviewed_total += n_reviewed
        n_changed_total += n_changed
        rows.append(report.image_row(auto_s) + [
            rev_s.n_cells, rev_s.n_parasitized, report.format_number(rev_s.parasitemia_pct, 3),
            report.format_number(rev_s.parasites_per_ul, 0), n_reviewed, n_changed, annotated_rel.get(key, "")])
    job.summary.files.append(report.write_csv_atomic(job.out / "images.csv", report.IMAGE_COLUMNS + IMAGE_EXTRA,
                                                     rows))
    return n_reviewed_total, n_changed_total


def _write_slide_csv(job: _Job, totals: tuple[int, int]) -> None:
    """slide.csv: metadata as typed, then the automatic and the reviewed slide figures."""
    settings, meta = settings_of(job.session), job.session.metadata
    auto_slide = report.summarise_slide(job.automatic.values(), **settings.summary_kwargs())
    rev_slide = report.summarise_slide(job.reviewed.values(), **settings.summary_kwargs())
    tally = review_tally(job.automatic, job.session.review, settings.count_edge_cells)  # seen vs accepted unseen
    rates = rates_from_model_info(job.session.model)
    if rates is not None:  # the estimate, interval and verdict need the model's error rates
        auto_slide = report.with_estimate(auto_slide, rates, settings.min_cells)
        rev_slide = report.with_estimate(rev_slide, rates, settings.min_cells, tally.unconfirmed_share)
    model = job.session.model.get("name", "") if isinstance(job.session.model, dict) else ""
    row = [meta.patient_id, meta.slide_id, meta.operator, meta.date, meta.notes,
           datetime.now(timezone.utc).isoformat(timespec="seconds"), __version__, model, settings.threshold]
    row += report.slide_row(auto_slide)
    row += [rev_slide.rbc_counted, int(rev_slide.target_reached), rev_slide.n_parasitized,
            report.format_number(rev_slide.parasitemia_pct, 3), report.format_number(rev_slide.parasites_per_ul, 0),
            report.FLAG_SEPARATOR.join(rev_slide.flags), totals[0] - tally.accepted, totals[1],
            *report.slide_row(rev_slide)[-5:], tally.accepted]  # the estimate columns (report.SLIDE_COLUMNS' last 5)
    job.summary.files.append(report.write_csv_atomic(job.out / "slide.csv",
                                                     META_COLUMNS + report.SLIDE_COLUMNS + SLIDE_EXTRA, [row]))


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only (accents dropped, other letters become ``?``)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode("ascii")


def _load_checked(result: ImageResult, summary: ExportSummary) -> np.ndarray | None:
    """The image pixels, or None (recorded in the summary) when the file is gone or changed size."""
    from malaria_desktop.core.image_io import load_image

    path = Path(result.path)
    if not path.is_file():
        summary.missing_images.append(path)
        return None
    try:
        image = load_image(path, expect_sha256=result.content_sha256)
    except ImageChangedError as exc:
        summary.missing_images.append(path)
        summary.warnings.append(f"{exc} Skipped: no annotated image or crops.")
        return None
    except Exception as exc:  # ImageLoadError, or anything a decoder throws on a file changed since analysis
        summary.missing_images.append(path)
        summary.warnings.append(f"{path.name}: {exc}")
        return None
    if tuple(image.shape[:2]) != tuple(result.image_shape):
        summary.missing_images.append(path)
        summary.warnings.append(f"{path.name}: the file changed since it was analysed (size differs); skipped")
        return None
    return image


def _write_crops(
    key: ImageKey, image: np.ndarray, auto: ImageResult, rev: ImageResult, review: ReviewState, mode: CropMode,
    group: str, image_name: str, out: Path, summary: ExportSummary,
) -> list[dict[str, Any]]:
    """Write this image's crops; returns their manifest rows."""
    auto_by_id = {cr.cell.cell_id: cr for cr in auto.cells}
    rows = []
    for cr in rev.cells:  # not_cell already removed
        cid = cr.cell.cell_id
        is_reviewed = review.is_edited(key, cid)
        if mode == "reviewed" and not is_reviewed:
            continue
        folder = CROP_FOLDERS[cr.label]
        x, y, w, h = cr.cell.bbox
        pixels = crop_cell(image, cr.cell.bbox, cr.cell.mask, max(w, h))
        rel = f"{folder}/{group}_{image_name}_cell{cid}.png"
        write_bytes(out / "crops" / rel, encode_png(pixels))
        summary.n_crops[cr.label] += 1
        source = auto_by_id.get(cid)
        rows.append({
            "path": rel, "label": folder, "patient_id": group, "source_field": Path(key).name, "cell_id": cid,
            "automatic_label": source.label if source else "",
            "probability": report.format_number(source.probability, 4) if source else "",
            "reviewed": int(is_reviewed), "edge": int(cr.cell.on_edge),
        })
    return rows


def _write_manifest(out: Path, rows: list[dict[str, Any]], summary: ExportSummary) -> None:
    """Write crops/manifest.csv (the folder is new each time: no crop of an earlier export is left)."""
    crops_dir = out / "crops"
    for folder in CROP_FOLDERS.values():
        (crops_dir / folder).mkdir(parents=True, exist_ok=True)
    summary.files.append(report.write_csv_atomic(crops_dir / "manifest.csv", MANIFEST_COLUMNS, rows))


__all__ = ["ExportError", "ExportSummary", "export_session", "patient_group", "safe_name"]
