"""The resources of one slide's FHIR result as plain JSON-shaped dicts (validated by ``interop.fhir``).

Why dicts first: each resource reads like the FHIR specification's own JSON examples, so a reviewer can
compare them line by line; ``interop.fhir`` then validates every one with the ``fhir.resources`` models.
The figures are a ``slide.csv`` row (column -> text, as written), so a LIS reading the Bundle and a person
reading the CSV see the same numbers, rounding included, and a figure the CSV withholds is absent too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from malaria_desktop import INTENDED_USE
from malaria_desktop.core.text import display_text
from malaria_desktop.interop import fhir_codes as codes

if TYPE_CHECKING:
    from malaria_desktop.core.report.counts import SlideSummary

APP_NAME = "Malaria Desktop"


@dataclass(frozen=True)
class ModelInfo:
    """The model behind the figures: card name, the threshold used, the card's SHA-256, calibrated or not."""

    name: str
    threshold: float
    card_sha256: str = ""
    calibrated: bool = False
    exported: str = ""  # the card's export time: the model's version as the card states it


@dataclass(frozen=True)
class SlideReport:
    """Everything one slide's Bundle says; plain data, so the CLI and the window build it the same way.

    ``figures`` is the slide's ``slide.csv`` row (``core.report.counts.SLIDE_COLUMNS`` -> text; the
    reviewed figures once a person labelled cells); ``automatic`` the model's own row when it differs.
    ``collected`` is the slide date
    as typed (used only when it is an ISO date). IDs are the pseudonyms the technician typed. ``reviewed``
    means the review is complete (``interop.fhir_session`` says by which rule).
    """

    figures: Mapping[str, str]
    model: ModelInfo
    app_version: str
    issued: datetime
    patient_id: str = ""
    slide_id: str = ""
    collected: str = ""
    reviewed: bool = False
    reviewer: str = ""
    automatic: Mapping[str, str] | None = None
    n_reviewed: int = 0  # cells a person labelled (a review may be under way without being complete)


def plain(value: object) -> str:
    """Typed text as FHIR ``string`` data: valid UTF-8, control characters removed, outer spaces trimmed.

    Everything else (accents, other scripts, quotes, ``<script>``) stays as typed: JSON escaping makes it
    data, and a LIS must show it as text. Undecodable bytes become ``\\xNN`` (``core.text``).
    """
    text = display_text(str(value))
    text = "".join(" " if ch in "\t\r\n" else ch for ch in text if ch in "\t\r\n" or unicodedata.category(ch) != "Cc")
    return text.strip()


def csv_row(summary: SlideSummary) -> dict[str, str]:
    """The slide summary as ``slide.csv`` writes it (column -> text): the Bundle states these numbers.

    Reading the CSV's own row (``core.report.counts.slide_row``) keeps the two equal by construction: the
    same rounding, and a figure the CSV leaves empty (undefined, or withheld below the detection limit) is
    absent from the Bundle too.
    """
    from malaria_desktop.core.report.counts import SLIDE_COLUMNS, slide_row

    return {col: "" if value is None else str(value)
            for col, value in zip(SLIDE_COLUMNS, slide_row(summary), strict=True)}


def number(row: Mapping[str, str], column: str) -> Decimal | None:
    """A figure of ``csv_row`` as a Decimal (None when the CSV has none, or no such column)."""
    text = row.get(column, "").strip()
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def status(report: SlideReport) -> str:
    """``final`` once a person reviewed the slide, ``preliminary`` while the result is automatic."""
    return "final" if report.reviewed else "preliminary"


def subject(report: SlideReport) -> dict[str, Any] | None:
    """The patient by the pseudonymous ID only (a logical reference: no Patient resource, no other data)."""
    pid = plain(report.patient_id)
    return {"identifier": {"system": codes.PATIENT_ID, "value": pid}} if pid else None


def performer(report: SlideReport) -> list[dict[str, Any]] | None:
    """The reviewer, for a reviewed result (FHIR R4 performers are people or organisations, not devices)."""
    if not report.reviewed:
        return None
    name = plain(report.reviewer)
    if not name:
        return [{"display": "Reviewing technician (name not recorded)"}]
    return [{"identifier": {"system": codes.OPERATOR_ID, "value": name}, "display": name}]


def collected_date(report: SlideReport) -> str | None:
    """The slide date when it is a real ISO date (YYYY-MM-DD); anything else is left out, never guessed."""
    text = plain(report.collected)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        return None
    return text


def specimen(report: SlideReport) -> dict[str, Any]:
    """The thin film, identified by the slide ID the technician typed."""
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "status": "available",
        "type": {"coding": [codes.coding(*codes.BLOOD_SPECIMEN)], "text": "Giemsa-stained thin blood film"},
    }
    sid = plain(report.slide_id)
    if sid:
        resource["identifier"] = [{"system": codes.SLIDE_ID, "value": sid}]
        resource["accessionIdentifier"] = {"system": codes.SLIDE_ID, "value": sid}
    if (who := subject(report)) is not None:
        resource["subject"] = who
    if (when := collected_date(report)) is not None:
        resource["collection"] = {"collectedDateTime": when}
    return resource


def device(report: SlideReport) -> dict[str, Any]:
    """The app and its model: names, versions, model card hash, calibrated or not, decision threshold."""
    model = report.model
    yes_no = "yes" if model.calibrated else "no"
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "status": "active",
        "deviceName": [{"name": APP_NAME, "type": "user-friendly-name"},
                       {"name": plain(model.name) or "unknown model", "type": "model-name"}],
        "type": {"text": "Software: automated screening of Giemsa thin-film images for malaria parasites"},
        "version": [{"type": {"text": "application"}, "value": plain(report.app_version) or "unknown"},
                    {"type": {"text": "model"}, "value": plain(model.name) or "unknown"}]
        + ([{"type": {"text": "model exported"}, "value": plain(model.exported)}] if plain(model.exported) else []),
        "property": [
            {"type": codes.concept("decision-threshold"),
             "valueQuantity": [codes.ucum(Decimal(f"{model.threshold:.6f}").normalize(), "1")]},
            {"type": codes.concept("calibrated"),
             "valueCode": [{"coding": [codes.local(yes_no)], "text": codes.LOCAL_CODES[yes_no]}]},
        ],
        "note": [{"text": INTENDED_USE}],
    }
    if model.card_sha256:
        resource["identifier"] = [{"system": codes.MODEL_CARD_SHA256, "value": model.card_sha256}]
    return resource


__all__ = ["ModelInfo", "SlideReport", "collected_date", "csv_row", "device", "number", "performer", "plain",
           "specimen", "status", "subject"]
