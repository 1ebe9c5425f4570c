"""The window's export as a FHIR ``SlideReport``: the figures of the export's own ``slide.csv``.

Why read the CSV back: the Bundle is written into the export folder after ``slide.csv`` (``core.report.
export``'s ``extra_files``), so taking its row makes the two agree by construction, whatever the export
computes (automatic and reviewed figures, the estimate and its interval). The reviewed figures
(``reviewed_…`` columns) are reported as soon as a cell was labelled; the automatic ones go beside them.

When is a result *final*? When a person has reviewed it, by the rule of the review queues
(``core.review.queues``): every cell of both queues (likely parasitized - confirm, uncertain) has a label
that a person gave while seeing the cell (labels accepted unseen, ``core.review.acceptance``, do not
count), and at least one cell was labelled. A slide with nothing in either queue that nobody looked at
stays preliminary. Without the model's uncertain band the rule falls back to "a cell was labelled".
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malaria_desktop import __version__
from malaria_desktop.interop.fhir_report import ModelInfo, SlideReport

if TYPE_CHECKING:
    from malaria_desktop.core.results import ImageResult
    from malaria_desktop.core.review.session import Session

Band = tuple[float, float]


def _automatic(session: Session) -> dict[str, ImageResult]:
    """Automatic results at the session's threshold (as the export recomputes them)."""
    from malaria_desktop.core.review.session import settings_of
    from malaria_desktop.core.review.state import apply_threshold

    threshold = settings_of(session).threshold
    return {key: apply_threshold(r, threshold) if r.status == "ok" and r.threshold != threshold else r
            for key, r in session.results.items()}


def read_slide_row(folder: Path) -> dict[str, str]:
    """The one row of an export's ``slide.csv`` (column -> text as written)."""
    from malaria_desktop.core.report.counts import CSV_ENCODING

    with open(Path(folder) / "slide.csv", encoding=CSV_ENCODING, newline="") as handle:
        return dict(next(csv.DictReader(handle)))


def export_figures(row: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(reviewed, automatic) figures of an export row, each keyed by ``slide.csv``'s plain column names."""
    from malaria_desktop.core.report.counts import SLIDE_COLUMNS

    automatic = {col: row.get(col, "") for col in SLIDE_COLUMNS}
    reviewed = {col: row.get(f"reviewed_{col}", automatic[col]) for col in SLIDE_COLUMNS}
    return reviewed, automatic


def review_complete(session: Session, band: Band | None) -> bool:
    """The slide-reviewed rule (module docstring)."""
    from malaria_desktop.core.review.queues import QUEUES, queue_cells
    from malaria_desktop.core.review.session import settings_of

    review = session.review
    acceptance: Any = getattr(review, "acceptance", None)  # labels given to cells nobody was shown

    def seen(key: str, cell_id: int) -> bool:
        return review.is_edited(key, cell_id) and not (acceptance is not None and acceptance.is_unseen(key, cell_id))

    labelled = [(key, cid) for key in review.image_keys() for cid in [*review.overrides(key), *review.added_cells(key)]]
    if not any(seen(key, cid) for key, cid in labelled):
        return False
    if band is None:
        return True
    threshold = settings_of(session).threshold
    return all(seen(key, cid) for key, result in _automatic(session).items() for queue in QUEUES
               for cid in queue_cells(key, result, review, queue, threshold, band, left_only=False))


def model_info(session: Session, card_sha256: str = "") -> ModelInfo:
    """What the session recorded about its model, with the card's hash when the caller knows it."""
    from malaria_desktop.core.review.session import settings_of

    model = session.model if isinstance(session.model, dict) else {}
    return ModelInfo(name=str(model.get("name", "") or ""), threshold=settings_of(session).threshold,
                     card_sha256=card_sha256 or str(model.get("card_sha256", "") or ""),
                     calibrated=bool(model.get("calibration")), exported=str(model.get("exported", "") or ""))


def loaded_card_sha256(session: Session, classifier: Any) -> str:
    """SHA-256 of the loaded model's card, when that model is the one the session names (else "")."""
    from malaria_desktop.core.classification.model_card import CARD_FILE
    from malaria_desktop.core.digest import sha256_of_file

    model = session.model if isinstance(session.model, dict) else {}
    card = getattr(classifier, "card", None)
    if card is None or not model.get("name") or card.name != model.get("name"):
        return ""  # a reopened session analysed by another model: its card is not the one loaded now
    try:
        return sha256_of_file(Path(classifier.model_dir) / CARD_FILE)
    except OSError:
        return ""


def session_report(session: Session, row: Mapping[str, str], band: Band | None = None,
                   issued: datetime | None = None, card_sha256: str = "") -> SlideReport:
    """The ``SlideReport`` of a session from its export row: reviewed figures once labelled, final once done."""
    reviewed, automatic = export_figures(row)
    n_labels = session.review.edits_count
    meta = session.metadata
    return SlideReport(
        figures=reviewed if n_labels else automatic, model=model_info(session, card_sha256),
        app_version=__version__, issued=issued or datetime.now(timezone.utc), patient_id=meta.patient_id,
        slide_id=meta.slide_id, collected=meta.date, reviewed=review_complete(session, band), reviewer=meta.operator,
        automatic=automatic if n_labels and automatic != reviewed else None, n_reviewed=n_labels)


def session_writer(session: Session, band: Band | None = None, card_sha256: str = "") -> Callable[[Path], Path]:
    """A writer for the export folder: ``writer(path)`` writes the Bundle of the ``slide.csv`` beside ``path``."""
    from malaria_desktop.interop.fhir import write_bundle

    def write(path: Path) -> Path:
        row = read_slide_row(path.parent)
        return write_bundle(path, session_report(session, row, band, card_sha256=card_sha256))

    return write


__all__ = ["export_figures", "loaded_card_sha256", "model_info", "read_slide_row", "review_complete",
           "session_report", "session_writer"]
