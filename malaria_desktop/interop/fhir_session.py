"""A reviewed session (the window's slide) as a FHIR ``SlideReport``, with the figures its export writes.

The figures come from the same functions ``core.report.export`` uses for ``slide.csv`` (automatic labels
at the session's threshold, then the technician's edits), so the Bundle and the CSV agree.

When is a result *final*? When a person has reviewed it, by the rule of the review queues
(``core.review.queues``): both queues (likely parasitized - confirm, uncertain) are empty, and the
technician labelled at least one cell (a slide with nothing in either queue that nobody looked at stays
preliminary). Without the model's uncertain band the rule falls back to "at least one cell labelled".
The figures are the reviewed ones as soon as any cell was labelled; the automatic ones are then given
beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malaria_desktop import __version__
from malaria_desktop.interop.fhir_resources import ModelInfo, SlideReport

if TYPE_CHECKING:
    from malaria_desktop.core.report.counts import SlideSummary
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


def slide_figures(session: Session) -> tuple[SlideSummary, SlideSummary]:
    """(automatic, reviewed) slide summaries, as the export's slide.csv states them."""
    from malaria_desktop.core.report.counts import summarise_slide
    from malaria_desktop.core.review.session import settings_of
    from malaria_desktop.core.review.state import reviewed_result

    options = settings_of(session).summary_kwargs()
    automatic = _automatic(session)
    reviewed = [reviewed_result(key, r, session.review) for key, r in automatic.items()]
    return summarise_slide(automatic.values(), **options), summarise_slide(reviewed, **options)


def review_complete(session: Session, band: Band | None) -> bool:
    """The slide-reviewed rule (module docstring)."""
    from malaria_desktop.core.review.queues import queue_counts
    from malaria_desktop.core.review.session import settings_of

    if session.review.edits_count == 0:
        return False
    if band is None:
        return True
    return queue_counts(_automatic(session), session.review, settings_of(session).threshold, band).reviewed


def model_info(session: Session, card_sha256: str = "") -> ModelInfo:
    """What the session recorded about its model, with the card's hash when the caller knows it."""
    from malaria_desktop.core.review.session import settings_of

    model = session.model if isinstance(session.model, dict) else {}
    return ModelInfo(name=str(model.get("name", "") or ""), threshold=settings_of(session).threshold,
                     card_sha256=card_sha256 or str(model.get("card_sha256", "") or ""),
                     calibrated=bool(model.get("calibration")))


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


def session_report(session: Session, band: Band | None = None, issued: datetime | None = None,
                   card_sha256: str = "") -> SlideReport:
    """The ``SlideReport`` of a session: reviewed figures once a cell was labelled, final once complete."""
    automatic, reviewed = slide_figures(session)
    n_reviewed = session.review.edits_count
    meta = session.metadata
    return SlideReport(
        summary=reviewed if n_reviewed else automatic, model=model_info(session, card_sha256), app_version=__version__,
        issued=issued or datetime.now(timezone.utc), patient_id=meta.patient_id, slide_id=meta.slide_id,
        collected=meta.date, reviewed=review_complete(session, band), reviewer=meta.operator,
        automatic=automatic if n_reviewed else None, n_reviewed=n_reviewed)


def session_writer(session: Session, band: Band | None = None, card_sha256: str = "") -> Callable[[Path], Path]:
    """A writer for the export folder: ``writer(path)`` writes the session's Bundle there (atomically)."""
    from malaria_desktop.interop.fhir import write_bundle

    def write(path: Path) -> Path:
        return write_bundle(path, session_report(session, band, card_sha256=card_sha256))

    return write


__all__ = ["loaded_card_sha256", "model_info", "review_complete", "session_report", "session_writer", "slide_figures"]
