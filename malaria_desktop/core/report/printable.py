"""The printable (PDF) slide report's content: fields, figures, flags, parasitized-cell gallery, as HTML.

Why in core: the figures must be the ones the CSV export and the window show (``report.summarise_slide``
on the automatic and the reviewed results), and they must be testable without Qt. The Qt side
(``qt/print_report.py``) only lays this HTML out on pages with ``QTextDocument`` and writes the PDF.
Thumbnail pictures are referenced as ``thumb/<n>.png``; the Qt side registers the pixels under those names.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from malaria_desktop import INTENDED_USE, __version__
from malaria_desktop.core.classification.plausibility import IMPLAUSIBLE_PARASITEMIA_PCT
from malaria_desktop.core.report.counts import SlideSummary, summarise_slide
from malaria_desktop.core.report.estimate import rates_from_model_info, summary_verdict
from malaria_desktop.core.report.thumbnails import analysed_image, image_thumbnails
from malaria_desktop.core.results import PARASITIZED
from malaria_desktop.core.review.session import Session, summary_options
from malaria_desktop.core.review.state import reviewed_result
from malaria_desktop.core.review.tally import review_tally

MAX_THUMBS = 96  # two pages of thumbnails at most; the rest are in the export's CSV files
THUMB_PX = 64


def flag_words(code: str, hyper_cutoff_pct: float) -> str:
    """A report flag code in plain words (the window's flag list uses the same words)."""
    if code.startswith("fewer_than_"):
        n = code.split("_")[2]
        return f"Fewer than {int(n):,} red cells counted: the parasitemia is not reliable. Add more fields."
    if code.startswith("below_"):
        n = code.split("_")[1]
        return f"Below the {int(n):,}-cell target: add more fields if you can."
    return {
        "hyperparasitaemia": f"Hyperparasitemia: parasitemia at or above {hyper_cutoff_pct:g} %.",
        "some_images_failed": "Some images could not be analysed.",
        "no_images_analysed": "No image analysed yet.",
        "implausible_parasitemia": f"Parasitemia above {IMPLAUSIBLE_PARASITEMIA_PCT:g} % is rarely real: review "
                                   "the cells and confirm by microscopy before reporting.",
        "images_unlike_training_data": "Some images look unlike the model's training data (stain, cell size or "
                                       "many uncertain cells): review their cells; counts may be wrong.",
        "implausible_images": "Some images are not stained smear fields (greyscale or noise): check the files.",
    }.get(code, code.replace("_", " "))


def rbc_assumption(rbc_per_ul: float, default: float = 5_000_000) -> str:
    """What the parasites/µL figure assumes, in words."""
    note = " (the default; enter the patient's count in Settings when known)" if rbc_per_ul == default else \
        " (entered in Settings)"
    return f"Parasites/\u00b5L assumes {rbc_per_ul:,.0f} red cells per \u00b5L{note}."


@dataclass(frozen=True)
class ReportThumb:
    """One parasitized cell of the report's gallery."""

    image_name: str
    cell_id: int
    probability: float | None  # None for a cell the technician drew
    rgb: np.ndarray | None  # None when the image file could not be read


@dataclass(frozen=True)
class PrintableReport:
    """Everything printed, already in words and numbers."""

    fields: tuple[tuple[str, str], ...]
    model: tuple[tuple[str, str], ...]
    automatic: SlideSummary
    reviewed: SlideSummary
    edits: int
    assumption: str
    flags: tuple[str, ...]
    warnings: tuple[str, ...]
    thumbs: tuple[ReportThumb, ...] = ()
    n_parasitized_total: int = 0
    intended_use: str = INTENDED_USE
    printed_at: str = field(default="")
    accepted: int = 0  # labels given to cells nobody saw (select-all + accept): not reviewed


def _fields(session: Session, reviewer: str, printed_at: datetime) -> tuple[tuple[str, str], ...]:
    meta = session.metadata
    return (("Patient / sample ID", meta.patient_id or "\u2013"), ("Slide ID", meta.slide_id or "\u2013"),
            ("Operator", meta.operator or "\u2013"), ("Reviewer", reviewer or "\u2013"),
            ("Slide date (entered)", meta.date or "\u2013"),
            ("Report printed", printed_at.strftime("%Y-%m-%d %H:%M")),
            ("Images", f"{len(session.image_paths)} field(s)"), ("Notes", meta.notes.strip() or "\u2013"))


def _model_rows(session: Session, model_folder: str, band_text: str) -> tuple[tuple[str, str], ...]:
    model = session.model or {}
    calibration = str(model.get("calibration") or "none (model as shipped)")
    return (("Model", str(model.get("name", "unknown"))), ("Model folder", model_folder or "\u2013"),
            ("Calibration", calibration),
            ("Decision threshold", f"{float(session.settings.get('threshold', 0.5)):.3f}"),
            ("Uncertain band", band_text or "\u2013"), ("Software", f"Malaria Desktop {__version__}"))


def parasitized_cells(session: Session) -> list[tuple[str, int, float | None, tuple[int, int, int, int]]]:
    """``(key, cell_id, probability, bbox)`` of every cell reported as parasitized, highest probability first.

    Clumps (touching cells left out of the counts) are left out here too: the PDF listed them as
    parasitized cells the figures did not count (issue 24)."""
    out = []
    for key, result in session.results.items():
        for cr in reviewed_result(key, result, session.review).cells:
            if cr.label == PARASITIZED and not cr.cell.clump:
                p = None if math.isnan(cr.probability) else float(cr.probability)
                out.append((key, cr.cell.cell_id, p, cr.cell.bbox))
    out.sort(key=lambda t: (-(t[2] if t[2] is not None else 2.0), t[0], t[1]))
    return out


def _thumbs(session: Session, load: Callable[[Path], np.ndarray], limit: int) -> tuple[list[ReportThumb], int]:
    cells = parasitized_cells(session)
    chosen = cells[:limit]
    pixels: dict[tuple[str, int], np.ndarray] = {}
    for key in dict.fromkeys(k for k, *_ in chosen):
        boxes = [(cid, bbox) for k, cid, _p, bbox in chosen if k == key]
        result = session.results[key]
        try:  # only from the file that was analysed: a replaced image would show other cells (issue 24)
            image = analysed_image(Path(key), result.content_sha256, result.image_shape, load)
            cut = image_thumbnails(image, boxes, THUMB_PX)
        except Exception:  # noqa: BLE001 - a moved/changed/unreadable image leaves an empty frame, not a failed report
            cut = {}
        pixels.update({(key, cid): img for cid, img in cut.items()})
    return [ReportThumb(Path(k).name, cid, p, pixels.get((k, cid))) for k, cid, p, _b in chosen], len(cells)


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME_TEXT else name[: MAX_NAME_TEXT - 1] + "\u2026"


def _grouped_warnings(results: Mapping) -> list[str]:
    """One line per distinct warning with the images it concerns (30 fields, one warning: one line)."""
    groups: dict[str, list[str]] = {}
    for key, result in results.items():
        texts = result.warnings if result.status == "ok" else (f"could not be analysed ({result.error})",)
        for text in texts:
            groups.setdefault(str(text), []).append(_short(Path(key).name))
    lines = []
    for text, names in groups.items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(f"{text} \u2013 {len(names)} image{'s' if len(names) != 1 else ''}: {shown}")
    return lines


def build_report(session: Session, *, reviewer: str = "", model_folder: str = "", band_text: str = "",
                 printed_at: datetime | None = None, load: Callable[[Path], np.ndarray] | None = None,
                 max_thumbs: int = MAX_THUMBS) -> PrintableReport:
    """Collect the report; ``load`` reads an image for the thumbnails (default ``image_io.load_image``)."""
    from malaria_desktop.core.image_io import load_image

    printed_at = printed_at or datetime.now()
    options = summary_options(session.settings)
    results = session.results
    rates = rates_from_model_info(session.model)  # the estimate, interval and verdict (core.report.estimate)
    tally = review_tally(results, session.review, bool(options["count_edge_cells"]))
    automatic = summarise_slide(results.values(), **options, rates=rates)
    reviewed = summarise_slide((reviewed_result(k, r, session.review) for k, r in results.items()), **options,
                               rates=rates, unconfirmed_share=tally.unconfirmed_share)
    hyper = float(options["hyper_cutoff_pct"])
    warnings = _grouped_warnings(results)
    thumbs, total = _thumbs(session, load or load_image, max_thumbs)
    return PrintableReport(
        fields=_fields(session, reviewer, printed_at), model=_model_rows(session, model_folder, band_text),
        automatic=automatic, reviewed=reviewed, edits=tally.reviewed, accepted=tally.accepted,
        assumption=rbc_assumption(float(options["rbc_per_ul"])),
        flags=tuple(flag_words(f, hyper) for f in reviewed.flags), warnings=tuple(warnings),
        thumbs=tuple(thumbs), n_parasitized_total=total, printed_at=printed_at.strftime("%Y-%m-%d %H:%M"))


def _num(value: float | None, fmt: str) -> str:
    return "\u2013" if value is None else format(value, fmt)


def figure_rows(report: PrintableReport) -> list[tuple[str, str, str]]:
    """(what, automatic, reviewed) rows of the figures table."""
    a, r = report.automatic, report.reviewed
    rows = [("Red cells counted", f"{a.rbc_counted:,}", f"{r.rbc_counted:,}"),
            ("Parasitized cells", f"{a.n_parasitized:,}", f"{r.n_parasitized:,}"),
            ("Parasitemia", _num(a.parasitemia_pct, ".2f") + " %", _num(r.parasitemia_pct, ".2f") + " %"),
            ("Parasites / \u00b5L", _num(a.parasites_per_ul, ",.0f"), _num(r.parasites_per_ul, ",.0f"))]
    if a.slide_result or r.slide_result:  # with the model's error rates: the verdict with its interval
        rows.append(("Slide result", summary_verdict(a) or "\u2013", summary_verdict(r) or "\u2013"))
    return rows


MAX_CELL_TEXT = 1000  # characters of one table cell (notes may be long; a 10 KB file name must not be)
MAX_NAME_TEXT = 80  # characters of one file name in the warnings list


def _plain(text: str, limit: int = MAX_CELL_TEXT) -> str:
    """Text for the page: Unicode format characters removed (a right-to-left override turned
    "evitisoP" into what reads as "Positive", issue 24), cut at ``limit`` with an ellipsis, escaped."""
    shown = "".join(ch for ch in str(text) if unicodedata.category(ch) != "Cf")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "\u2026"
    return html.escape(shown)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str] = ()) -> str:
    head = "".join(f"<th align='left'>{_plain(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_plain(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            f"{'<tr>' + head + '</tr>' if head else ''}{body}</table>")


def _pairs(fields: Sequence[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Two fields per table row (label, value, label, value): the header stays short."""
    rows = [tuple(fields[i]) + (tuple(fields[i + 1]) if i + 1 < len(fields) else ("", "")) for i in
            range(0, len(fields), 2)]
    return rows


def _gallery_html(report: PrintableReport, src: Callable[[int], str], per_row: int = 8) -> str:
    if not report.thumbs:
        return "<p>No cell is reported as parasitized.</p>"
    cells = []
    for i, t in enumerate(report.thumbs):
        p = "drawn" if t.probability is None else f"{t.probability:.2f}"
        pic = f"<img src='{src(i)}' width='{THUMB_PX}' height='{THUMB_PX}'>" if t.rgb is not None else "(no image)"
        cells.append(f"<td align='center'>{pic}<br><small>{p}<br>{_plain(t.image_name, 14)}</small></td>")
    rows = ["<tr>" + "".join(cells[i:i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    more = report.n_parasitized_total - len(report.thumbs)
    note = f"<p><small>Showing {len(report.thumbs)} of {report.n_parasitized_total} (highest probability " \
           f"first); all are listed in the exported CSV files.</small></p>" if more > 0 else ""
    return f"<table cellspacing='2' cellpadding='2'>{''.join(rows)}</table>{note}"


def report_html(report: PrintableReport, src: Callable[[int], str] = lambda i: f"thumb/{i}.png") -> str:
    """The whole report as the HTML subset ``QTextDocument`` lays out."""
    unseen = f" {report.accepted} more were accepted without being shown (not reviewed)." if report.accepted else ""
    reviewed_note = (f"The technician reviewed {report.edits} cell(s);{unseen} The reviewed column is the result."
                     if report.edits or report.accepted else "Not reviewed: the automatic figures are the result.")
    flags = "".join(f"<li>{_plain(f)}</li>" for f in report.flags) or "<li>None.</li>"
    warnings = "".join(f"<li>{_plain(w)}</li>" for w in report.warnings) or "<li>None.</li>"
    return (
        "<html><body style='font-family: sans-serif; font-size: 10pt;'>"
        "<h2>Malaria thin-smear screening report</h2>"
        f"<p style='background-color:#fff3cd;'><b>Intended use:</b> {html.escape(report.intended_use)}</p>"
        f"{_table(_pairs(report.fields))}<h3>Result</h3>"
        f"{_table(figure_rows(report), ('', 'Automatic', 'Reviewed'))}"
        f"<p>{html.escape(reviewed_note)} {html.escape(report.assumption)}</p>"
        f"<h3>Flags</h3><ul>{flags}</ul><h3>Image warnings</h3><ul>{warnings}</ul>"
        f"<h3>Model</h3>{_table(report.model)}"
        f"<h3>Cells reported as parasitized</h3>{_gallery_html(report, src)}"
        "<p>&nbsp;</p><p>Reviewer's signature: ______________________________ &nbsp;&nbsp; "
        "Date: ______________</p>"
        f"<p><small>Printed {html.escape(report.printed_at)}. {html.escape(report.intended_use)}</small></p>"
        "</body></html>")


def report_mapping(report: PrintableReport) -> Mapping[str, str]:
    """Key figures as text (tests, logs)."""
    rows = {what: rev for what, _auto, rev in figure_rows(report)}
    return {**dict(report.fields), **rows}
