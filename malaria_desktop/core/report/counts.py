"""Counts, parasitemia and CSV reports: plain functions in, frozen dataclasses and files out.

Formulae (thin film): parasitemia % = parasitized RBC / RBC counted x 100; parasites/uL = that ratio x
RBC/uL (default 5,000,000, configurable). A cell with several parasites counts once (the classifier
labels cells, not parasites). WHO practice: count at least 500 RBC, preferably 2,000, over the fields of
one slide -- the slide summary flags both.

Edge cells: cells cut by the image border are **counted** by default, like the cells a technician sees
on the screen and like the GUI's counts (``ImageResult.n_cells``); every cell row in ``cells.csv`` carries
``edge`` = 1/0 so a lab that prefers whole cells only can pass ``count_edge_cells=False`` (CLI:
``--exclude-edge-cells``), which drops them from numerator and denominator alike.

CSV files are written for spreadsheets: UTF-8 with a byte-order mark (``utf-8-sig``) so Excel shows
accents and non-Latin file names correctly; RFC 4180 quoting by the ``csv`` module; text cells that a
spreadsheet would run as a formula (starting with ``= + - @``, their full-width forms, tab, carriage return,
line feed or a space, which spreadsheets skip before a formula) are prefixed with ``'`` (OWASP
CSV-injection advice); file names that are not valid UTF-8 are written with ``\\xNN`` escapes
(``text.display_text``). Every file goes through ``core.atomic`` (temp file in the same folder, fsync,
rename), so a crash or a full disk never leaves a half-written report; a report *folder* is made a unit by
its writer (``core.atomic.AtomicFolder``). Defaults come from ``core.settings.DEFAULTS``.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from malaria_desktop import INTENDED_USE
from malaria_desktop.core.atomic import atomic_open
from malaria_desktop.core.classification.plausibility import (
    IMPLAUSIBLE_FLAG,
    IMPLAUSIBLE_PARASITEMIA_PCT,
    count_kinds,
    warning_kind,
)
from malaria_desktop.core.report.estimate import ErrorRates, density_shown, estimate_slide, verdict_only
from malaria_desktop.core.results import NOT_CELL, ImageResult, counted
from malaria_desktop.core.settings import DEFAULTS
from malaria_desktop.core.text import display_text

CSV_ENCODING = "utf-8-sig"
FLAG_SEPARATOR = ";"

CELL_COLUMNS = ("image", "cell_id", "x", "y", "width", "height", "centroid_x", "centroid_y", "area_px",
                "probability", "label", "edge", "clump")
IMAGE_COLUMNS = ("image", "status", "error", "n_cells", "n_parasitized", "parasitemia_pct", "parasites_per_ul",
                 "flags", "n_not_a_cell", "uncovered_blood_pct")
SLIDE_COLUMNS = ("n_images", "n_images_ok", "n_images_error", "rbc_counted", "target_cells", "target_reached",
                 "n_parasitized", "parasitemia_pct", "parasites_per_ul", "rbc_per_ul",
                 "hyperparasitaemia_cutoff_pct", "flags", "edge_cells_counted", "intended_use", "image_warnings",
                 "parasitemia_estimate_pct", "parasitemia_ci_low_pct", "parasitemia_ci_high_pct", "slide_result",
                 "detection_limit_pct")
# slide flags raised by per-image warnings of these kinds (classification.domain_check / .plausibility)
UNLIKE_KINDS = frozenset({"unlike_training_data", "many_uncertain_cells"})
IMPLAUSIBLE_IMAGE_KINDS = frozenset({"greyscale", "random_noise"})


@dataclass(frozen=True)
class ImageSummary:
    """Counts of one image (zeros and ``None`` percentages for an image that failed or has no cells)."""

    image: str
    status: str
    error: str
    n_cells: int
    n_parasitized: int
    parasitemia_pct: float | None
    parasites_per_ul: float | None
    flags: tuple[str, ...] = ()
    n_not_a_cell: int = 0  # regions the not-a-cell model called white cell / platelet / debris (not counted)
    uncovered_blood_pct: float | None = None  # stained area in no outlined region: "cells may be missed here"


@dataclass(frozen=True)
class SlideSummary:
    """All images of one slide together, with the WHO-style counting flags."""

    n_images: int
    n_images_ok: int
    n_images_error: int
    rbc_counted: int
    target_cells: int
    target_reached: bool
    n_parasitized: int
    parasitemia_pct: float | None
    parasites_per_ul: float | None
    rbc_per_ul: float
    hyperparasitaemia_cutoff_pct: float
    flags: tuple[str, ...] = ()
    edge_cells_counted: bool = True
    image_warnings: tuple[tuple[str, int], ...] = ()  # (warning kind, number of images with it), by kind
    # core.report.estimate (None without the model's error rates): corrected figure, 95 % interval, verdict
    parasitemia_estimate_pct: float | None = None
    parasitemia_ci_low_pct: float | None = None
    parasitemia_ci_high_pct: float | None = None
    slide_result: str | None = None  # parasites_seen / not_seen / indeterminate
    detection_limit_pct: float | None = None
    slide_result_reason: str = ""


def parasitemia(n_parasitized: int, n_cells: int, rbc_per_ul: float) -> tuple[float | None, float | None]:
    """(parasitemia %, parasites/uL); ``None`` for both when no cell was counted (undefined, not 0)."""
    if n_cells <= 0:
        return None, None
    ratio = n_parasitized / n_cells
    return 100.0 * ratio, ratio * float(rbc_per_ul)


def summarise_image(
    result: ImageResult, *, rbc_per_ul: float = DEFAULTS.rbc_per_ul, count_edge_cells: bool = True
) -> ImageSummary:
    """Counts for one image; an error image keeps its message and counts nothing."""
    if result.status != "ok":
        return ImageSummary(str(result.path), "error", result.error or "unknown error", 0, 0, None, None)
    n_cells, n_par = counted(result, count_edge_cells)
    pct, per_ul = parasitemia(n_par, n_cells, rbc_per_ul)
    flags = list(result.warnings)
    if n_cells == 0:
        flags.append("no_cells_found")
    return ImageSummary(str(result.path), "ok", "", n_cells, n_par, pct, per_ul, tuple(flags),
                        sum(1 for c in result.cells if c.label == NOT_CELL), 100.0 * result.uncovered_share)


def summarise_slide(
    results: Iterable[ImageResult | ImageSummary],
    *,
    rbc_per_ul: float = DEFAULTS.rbc_per_ul,
    target_cells: int = DEFAULTS.target_cells,
    min_cells: int = DEFAULTS.min_cells,
    hyper_cutoff_pct: float = DEFAULTS.hyper_cutoff_pct,
    count_edge_cells: bool = True,
    rates: ErrorRates | None = None,
    unconfirmed_share: float = 1.0,
) -> SlideSummary:
    """Pool every ok image of one slide; flags say when the count is too small or parasitemia is high.

    ``results`` may be ``ImageResult``s or already computed ``ImageSummary``s (whose counts already
    reflect their own edge-cell choice), so a long run need not keep every cell in memory.

    Flags: ``fewer_than_<min>_rbc`` (not enough cells for a reliable figure), ``below_<target>_target``
    (keep adding fields), ``hyperparasitaemia`` (parasitemia >= the cut-off), ``some_images_failed``,
    ``no_images_analysed``, ``implausible_parasitemia`` (above ``IMPLAUSIBLE_PARASITEMIA_PCT``: confirm by
    microscopy), ``images_unlike_training_data`` and ``implausible_images`` (some image has such a warning;
    ``image_warnings`` counts every warning kind over the images).

    ``rates`` (the active model's, ``estimate.rates_from_card``) adds the corrected estimate, its 95 %
    interval, ``slide_result`` and the detection limit (``core.report.estimate``); ``unconfirmed_share`` is the
    share of parasitized calls nobody confirmed (1 for the automatic figures). Without parasites seen, no
    parasite density is given (``parasites_per_ul`` None).
    """
    if rbc_per_ul <= 0 or target_cells < 0 or min_cells < 0 or not 0 < hyper_cutoff_pct <= 100:
        raise ValueError("rbc_per_ul must be > 0, cell counts >= 0 and the cut-off in (0, 100]")
    n_images = n_ok = rbc = par = 0
    image_flags: list[str] = []
    for result in results:
        n_images += 1
        if result.status == "ok":
            n_ok += 1
            if isinstance(result, ImageSummary):
                cells, p = result.n_cells, result.n_parasitized
            else:
                cells, p = counted(result, count_edge_cells)
            image_flags += _image_flags(result, cells)
            rbc += cells
            par += p
    pct, per_ul = parasitemia(par, rbc, rbc_per_ul)
    kinds = count_kinds(image_flags)
    flags = _count_flags(n_images, n_ok, rbc, min_cells, target_cells, pct, hyper_cutoff_pct)
    flags += _safety_flags(pct, kinds)
    summary = SlideSummary(
        n_images=n_images, n_images_ok=n_ok, n_images_error=n_images - n_ok, rbc_counted=rbc,
        target_cells=target_cells, target_reached=rbc >= target_cells, n_parasitized=par,
        parasitemia_pct=pct, parasites_per_ul=per_ul, rbc_per_ul=float(rbc_per_ul),
        hyperparasitaemia_cutoff_pct=float(hyper_cutoff_pct), flags=tuple(flags),
        edge_cells_counted=count_edge_cells, image_warnings=tuple(kinds.items()),
    )
    return summary if rates is None else with_estimate(summary, rates, min_cells, unconfirmed_share)


def _count_flags(n_images: int, n_ok: int, rbc: int, min_cells: int, target_cells: int, pct: float | None,
                 hyper_cutoff_pct: float) -> list[str]:
    """The counting flags of ``summarise_slide`` (images analysed, cells against the minimum and target, cut-off)."""
    flags = []
    if n_ok == 0:
        flags.append("no_images_analysed")
    if n_ok < n_images:
        flags.append("some_images_failed")
    if rbc < min_cells:
        flags.append(f"fewer_than_{min_cells}_rbc")
    if rbc < target_cells:
        flags.append(f"below_{target_cells}_target")
    if pct is not None and pct >= hyper_cutoff_pct:
        flags.append("hyperparasitaemia")
    return flags


def with_estimate(summary: SlideSummary, rates: ErrorRates, min_cells: int = DEFAULTS.min_cells,
                  unconfirmed_share: float = 1.0, *, interval: bool = True) -> SlideSummary:
    """The summary with its estimate, interval and verdict; no parasite density unless parasites were seen.

    ``interval=False``: the same verdict and density without the interval and the detection limit (None;
    ``estimate.verdict_only``), cheap enough for the GUI thread after every key."""
    used = rates if unconfirmed_share >= 1 else rates.reviewed(unconfirmed_share)
    estimate = estimate_slide if interval else verdict_only
    est = estimate(summary.rbc_counted, summary.n_parasitized, used, min_cells=min_cells, flags=summary.flags)
    return replace(summary, parasitemia_estimate_pct=est.estimate_pct, parasitemia_ci_low_pct=est.ci_low_pct,
                   parasitemia_ci_high_pct=est.ci_high_pct, slide_result=est.result,
                   detection_limit_pct=est.detection_limit_pct, slide_result_reason=est.reason,
                   parasites_per_ul=summary.parasites_per_ul if density_shown(est) else None)


def _safety_flags(pct: float | None, kinds: Mapping[str, int]) -> list[str]:
    """Slide flags of the safety nets: implausible parasitemia, images unlike the training data or not smears."""
    flags = [IMPLAUSIBLE_FLAG] if pct is not None and pct > IMPLAUSIBLE_PARASITEMIA_PCT else []
    if UNLIKE_KINDS & kinds.keys():
        flags.append("images_unlike_training_data")
    if IMPLAUSIBLE_IMAGE_KINDS & kinds.keys():
        flags.append("implausible_images")
    return flags


def _image_flags(result: ImageResult | ImageSummary, n_counted: int) -> list[str]:
    """An ok image's warnings as ``summarise_image`` words them (each kind once per image)."""
    if isinstance(result, ImageSummary):
        flags = list(result.flags)
    else:
        flags = list(result.warnings) + (["no_cells_found"] if n_counted == 0 else [])
    return list({warning_kind(f): f for f in flags}.values())


# ---------------------------------------------------------------- rows


def format_number(value: float | None, digits: int) -> str:
    """Fixed decimals for the CSV; empty for undefined values (no cells counted)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def cell_rows(result: ImageResult) -> list[list[Any]]:
    """One row per cell of an ok image (``CELL_COLUMNS``), coordinates in original-image pixels."""
    rows = []
    for cr in result.cells:
        c = cr.cell
        x, y, w, h = c.bbox
        rows.append([str(result.path), c.cell_id, x, y, w, h, format_number(c.centroid[0], 1),
                     format_number(c.centroid[1], 1), c.area_px, format_number(cr.probability, 4), cr.label,
                     int(bool(c.on_edge)), int(bool(c.clump))])
    return rows


def image_row(summary: ImageSummary) -> list[Any]:
    """``IMAGE_COLUMNS`` for one image."""
    return [summary.image, summary.status, summary.error, summary.n_cells, summary.n_parasitized,
            format_number(summary.parasitemia_pct, 3), format_number(summary.parasites_per_ul, 0),
            FLAG_SEPARATOR.join(summary.flags), summary.n_not_a_cell, format_number(summary.uncovered_blood_pct, 1)]


def slide_row(s: SlideSummary) -> list[Any]:
    """``SLIDE_COLUMNS`` for the slide."""
    return [s.n_images, s.n_images_ok, s.n_images_error, s.rbc_counted, s.target_cells, int(s.target_reached),
            s.n_parasitized, format_number(s.parasitemia_pct, 3), format_number(s.parasites_per_ul, 0),
            format_number(s.rbc_per_ul, 0), format_number(s.hyperparasitaemia_cutoff_pct, 2),
            FLAG_SEPARATOR.join(s.flags), int(s.edge_cells_counted),
            INTENDED_USE, FLAG_SEPARATOR.join(f"{kind}={n}" for kind, n in s.image_warnings),
            format_number(s.parasitemia_estimate_pct, 3), format_number(s.parasitemia_ci_low_pct, 3),
            format_number(s.parasitemia_ci_high_pct, 3), s.slide_result or "", format_number(s.detection_limit_pct, 3)]


# ---------------------------------------------------------------- CSV writing

# spreadsheets also start a formula after leading spaces/line breaks, and accept full-width = + - @
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", " ", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """Make one cell value safe for spreadsheets: text that could start a formula gets a leading ``'``.

    Numbers stay numbers (a negative number is data, not a formula); ``None`` becomes an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    text = display_text(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


class AtomicCsvWriter:
    """Context manager streaming rows into a temp file that replaces ``path`` only on success.

    Lets the CLI write ``cells.csv`` while images are still being analysed (no need to keep every cell
    in memory) with the same guarantee as ``write_csv_atomic``: on any exception (or Ctrl-C) the temp
    file is removed and the previous file at ``path`` is left untouched (``core.atomic.atomic_open``).
    """

    def __init__(self, path: Path | str, header: Sequence[str]) -> None:
        self.path = Path(path)
        self.header = tuple(header)
        self._context: Any = None
        self._writer: Any = None

    def __enter__(self) -> "AtomicCsvWriter":
        self._context = atomic_open(self.path, "w", encoding=CSV_ENCODING, newline="")
        handle = self._context.__enter__()
        self._writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        try:
            self._writer.writerow([neutralise(h) for h in self.header])
        except BaseException:
            self._context.__exit__(*sys.exc_info())
            raise
        return self

    def writerow(self, row: Sequence[Any] | Mapping[str, Any]) -> None:
        values = [row.get(h) for h in self.header] if isinstance(row, Mapping) else list(row)
        if len(values) != len(self.header):
            raise ValueError(f"row has {len(values)} values for {len(self.header)} columns")
        self._writer.writerow([neutralise(v) for v in values])

    def writerows(self, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        context, self._context = self._context, None
        context.__exit__(exc_type, exc, tb)


def write_csv_atomic(
    path: Path | str, header: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]
) -> Path:
    """Write a CSV (utf-8-sig, neutralised cells) via temp file + fsync + rename; never a partial file.

    ``rows`` may be sequences in ``header`` order or mappings keyed by column name. If anything fails
    the temporary file is removed, the previous file at ``path`` (if any) is untouched, and the
    exception propagates.
    """
    with AtomicCsvWriter(path, header) as writer:
        writer.writerows(rows)
    return Path(path)


def write_cells_csv(path: Path | str, results: Iterable[ImageResult]) -> Path:
    """``cells.csv``: every cell of every ok image (edge cells included, marked ``edge=1``)."""
    return write_csv_atomic(path, CELL_COLUMNS, (row for r in results if r.status == "ok" for row in cell_rows(r)))


def write_images_csv(path: Path | str, summaries: Iterable[ImageSummary]) -> Path:
    """``images.csv``: one row per input file, ok or error (with its reason)."""
    return write_csv_atomic(path, IMAGE_COLUMNS, (image_row(s) for s in summaries))


def write_slide_csv(path: Path | str, summary: SlideSummary) -> Path:
    """``slide.csv``: one row for the whole slide, including the intended-use statement."""
    return write_csv_atomic(path, SLIDE_COLUMNS, [slide_row(summary)])
