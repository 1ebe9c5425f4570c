"""The Observations and the DiagnosticReport of one slide, as JSON-shaped dicts.

One Observation per figure a LIS files on its own (slide result, parasitemia with its estimate and
interval, parasites per microlitre with the red-cell count it assumes, red cells examined), all pointing at
the same specimen, device and patient; the DiagnosticReport groups them and says the result in words.
Every number is read from the slide's ``slide.csv`` row (``SlideReport.figures``); the slide result, the
corrected estimate, its interval and the detection limit appear when the row has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from malaria_desktop import INTENDED_USE
from malaria_desktop.interop import fhir_codes as codes
from malaria_desktop.interop.fhir_report import (
    SlideReport,
    collected_date,
    number,
    performer,
    plain,
    status,
    subject,
)

METHOD = ("Automated image analysis of Giemsa-stained thin-film field images: red cells segmented and "
          "classified by a convolutional network (Malaria Desktop)")
# parasitemia components: slide.csv column -> local code (present when the summary has the column)
PARASITEMIA_PARTS = {"parasitemia_estimate_pct": "parasitemia-estimate", "parasitemia_ci_low_pct": "parasitemia-ci-low",
                     "parasitemia_ci_high_pct": "parasitemia-ci-high", "detection_limit_pct": "detection-limit"}


def _base(report: SlideReport, code: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status(report),
        "category": [{"coding": [codes.coding(codes.OBS_CATEGORY, "laboratory", "Laboratory")]}],
        "code": code,
        "issued": report.issued.isoformat(timespec="seconds"),
        "method": {"text": METHOD},
        "specimen": {"reference": refs["Specimen"]},
        "device": {"reference": refs["Device"]},
    }
    if (who := subject(report)) is not None:
        obs["subject"] = who
    if (when := collected_date(report)) is not None:
        obs["effectiveDateTime"] = when
    if (people := performer(report)) is not None:
        obs["performer"] = people
    return obs


def _absent(obs: dict[str, Any], why: str) -> dict[str, Any]:
    obs["dataAbsentReason"] = {"coding": [codes.coding(codes.DATA_ABSENT, "error", "Error")], "text": why}
    return obs


def _why_absent(row: Mapping[str, str]) -> str:
    if row.get("rbc_counted", "0") in ("", "0"):
        return "no red cells were counted"
    result = row.get("slide_result", "")
    if result and result != "parasites_seen":
        return f"not given when the slide result is {result.replace('_', ' ')} (below the detection limit)"
    return "not given for this slide"


def slide_result(report: SlideReport, refs: dict[str, str]) -> dict[str, Any] | None:
    """Parasites seen / not seen / indeterminate, when the slide summary states it."""
    value = report.figures.get("slide_result", "")
    if value not in codes.SLIDE_RESULTS:
        return None
    code, display, words = codes.SLIDE_RESULTS[value]
    obs = _base(report, codes.concept("slide-result", codes.SLIDE_RESULT_LOINC), refs)
    obs["valueCodeableConcept"] = {"coding": [codes.coding(codes.SNOMED, code, display)], "text": words}
    return obs


def parasitemia(report: SlideReport, refs: dict[str, str]) -> dict[str, Any]:
    """Parasitemia in % (UCUM ``%``): the counted figure; estimate, interval and detection limit as components."""
    row = report.figures
    obs = _base(report, codes.concept("parasitemia", codes.PARASITEMIA_LOINC), refs)
    value = number(row, "parasitemia_pct")
    if value is None:
        return _absent(obs, _why_absent(row))
    obs["valueQuantity"] = codes.ucum(value, "%")
    parts = [{"code": codes.concept(code), "valueQuantity": codes.ucum(part, "%")}
             for column, code in PARASITEMIA_PARTS.items() if (part := number(row, column)) is not None]
    if parts:
        obs["component"] = parts
    auto = report.automatic
    if auto is not None and (before := number(auto, "parasitemia_pct")) is not None:
        obs["note"] = [{"text": f"Automatic figure before review: {before} % "
                                f"({auto.get('n_parasitized')} of {auto.get('rbc_counted')} red cells)."}]
    return obs


def parasites_per_ul(report: SlideReport, refs: dict[str, str]) -> dict[str, Any]:
    """Parasites per microlitre (UCUM ``/uL``); the red-cell count it assumes is a component and a note."""
    row = report.figures
    obs = _base(report, codes.concept("parasites-per-ul"), refs)
    rbc = number(row, "rbc_per_ul")
    obs["component"] = [{"code": codes.concept("assumed-rbc-per-ul"), "valueQuantity": codes.ucum(rbc, "/uL")}]
    obs["note"] = [{"text": f"Estimated as parasitemia x {rbc} red cells/uL; this red-cell count is assumed "
                            "(the app's setting), not measured on this specimen, unless the laboratory entered "
                            "the patient's own count."}]
    value = number(row, "parasites_per_ul")
    if value is None:
        return _absent(obs, _why_absent(row))
    obs["valueQuantity"] = codes.ucum(value, "/uL")
    return obs


def rbc_examined(report: SlideReport, refs: dict[str, str]) -> dict[str, Any]:
    """Red cells examined (UCUM ``{cells}``), with the parasitized ones among them as a component."""
    row = report.figures
    obs = _base(report, codes.concept("rbc-examined"), refs)
    obs["valueQuantity"] = codes.ucum(number(row, "rbc_counted"), "cells", "{cells}")
    obs["component"] = [{"code": codes.concept("rbc-parasitized"),
                         "valueQuantity": codes.ucum(number(row, "n_parasitized"), "cells", "{cells}")}]
    reached = "reached" if row.get("target_reached") == "1" else "NOT reached"
    words = (f"{row.get('n_images_ok', '?')} of {row.get('n_images', '?')} field images analysed; "
             f"target {row.get('target_cells', '?')} red cells {reached}.")
    obs["note"] = [{"text": words}]
    return obs


def observations(report: SlideReport, refs: dict[str, str]) -> list[dict[str, Any]]:
    made = [slide_result(report, refs), parasitemia(report, refs), parasites_per_ul(report, refs),
            rbc_examined(report, refs)]
    return [obs for obs in made if obs is not None]


def _figures_in_words(row: Mapping[str, str]) -> str:
    pct = number(row, "parasitemia_pct")
    if pct is None:
        return "No red cells were counted: no parasitemia can be given."
    words = f"Parasitemia {pct} % ({row['n_parasitized']} parasitized of {row['rbc_counted']} red cells counted)"
    low, high = number(row, "parasitemia_ci_low_pct"), number(row, "parasitemia_ci_high_pct")
    estimate = number(row, "parasitemia_estimate_pct")
    if estimate is not None:
        words += f"; corrected for the model's error rates {estimate} %"
    if low is not None and high is not None:
        words += f" (95 % interval {low}-{high} %)"
    per_ul = number(row, "parasites_per_ul")
    if per_ul is not None:
        words += f"; about {per_ul} parasites/uL assuming {number(row, 'rbc_per_ul')} red cells/uL"
    if (limit := number(row, "detection_limit_pct")) is not None:
        words += f"; detection limit {limit} %"
    return words + "."


def conclusion(report: SlideReport) -> str:
    """The result in words, as a clinician reads it on the LIS screen."""
    row = report.figures
    parts = []
    if (value := row.get("slide_result", "")) in codes.SLIDE_RESULTS:
        parts.append(codes.SLIDE_RESULTS[value][2] + ".")
    parts.append(_figures_in_words(row))
    if flags := [f for f in row.get("flags", "").split(";") if f.strip()]:
        parts.append("Flags: " + ", ".join(flags) + ".")
    if report.reviewed:
        name = plain(report.reviewer)
        parts.append(f"Reviewed by a person ({name})." if name else "Reviewed by a person.")
    elif report.n_reviewed:
        parts.append(f"Review not complete: {report.n_reviewed} cells checked by a person so far; the figures "
                     "include those corrections.")
    else:
        parts.append("Automatic result, not reviewed by a person.")
    parts.append(INTENDED_USE)
    return " ".join(parts)


def diagnostic_report(report: SlideReport, refs: dict[str, str], results: list[str]) -> dict[str, Any]:
    """The report: preliminary while automatic, final once reviewed (reviewer as performer)."""
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": status(report),
        "category": [{"coding": [codes.coding(codes.V2_0074, "LAB", "Laboratory")]}],
        "code": codes.concept("malaria-screen", codes.SLIDE_RESULT_LOINC),
        "issued": report.issued.isoformat(timespec="seconds"),
        "specimen": [{"reference": refs["Specimen"]}],
        "result": [{"reference": url} for url in results],
        "conclusion": conclusion(report),
    }
    if (who := subject(report)) is not None:
        resource["subject"] = who
    if (when := collected_date(report)) is not None:
        resource["effectiveDateTime"] = when
    if (people := performer(report)) is not None:
        resource["performer"] = people
    return resource


__all__ = ["conclusion", "diagnostic_report", "observations"]
