"""The Observations and the DiagnosticReport of one slide, as JSON-shaped dicts.

One Observation per figure a LIS files on its own (slide result, parasitemia with its interval,
parasites per microlitre with the red-cell count it assumes, red cells examined), all pointing at the same
specimen, device and patient; the DiagnosticReport groups them and says the result in words.
"""

from __future__ import annotations

from typing import Any

from malaria_desktop import INTENDED_USE
from malaria_desktop.interop import fhir_codes as codes
from malaria_desktop.interop.fhir_resources import (
    PCT_DIGITS,
    PER_UL_DIGITS,
    SlideReport,
    collected_date,
    decimal,
    performer,
    plain,
    status,
    subject,
)

METHOD = ("Automated image analysis of Giemsa-stained thin-film field images: red cells segmented and "
          "classified by a convolutional network (Malaria Desktop)")


def _optional(summary: Any, name: str) -> Any:
    """A slide-summary field that not every version of the summary has (None when absent)."""
    return getattr(summary, name, None)


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


def slide_result(report: SlideReport, refs: dict[str, str]) -> dict[str, Any] | None:
    """Parasites seen / not seen / indeterminate, when the slide summary states it."""
    value = _optional(report.summary, "slide_result")
    if value not in codes.SLIDE_RESULTS:
        return None
    code, display, words = codes.SLIDE_RESULTS[value]
    obs = _base(report, codes.concept("slide-result", codes.SLIDE_RESULT_LOINC), refs)
    obs["valueCodeableConcept"] = {"coding": [codes.coding(codes.SNOMED, code, display)], "text": words}
    return obs


def parasitemia(report: SlideReport, refs: dict[str, str]) -> dict[str, Any]:
    """Parasitemia in % (UCUM ``%``), with the confidence interval as two components when there is one."""
    s = report.summary
    obs = _base(report, codes.concept("parasitemia", codes.PARASITEMIA_LOINC), refs)
    value = decimal(s.parasitemia_pct, PCT_DIGITS)
    if value is None:
        return _absent(obs, "no red cells were counted")
    obs["valueQuantity"] = codes.ucum(value, "%")
    low = decimal(_optional(s, "parasitemia_ci_low_pct"), PCT_DIGITS)
    high = decimal(_optional(s, "parasitemia_ci_high_pct"), PCT_DIGITS)
    if low is not None and high is not None:
        obs["component"] = [{"code": codes.concept("parasitemia-ci-low"), "valueQuantity": codes.ucum(low, "%")},
                            {"code": codes.concept("parasitemia-ci-high"), "valueQuantity": codes.ucum(high, "%")}]
    auto = report.automatic
    if auto is not None and auto.parasitemia_pct is not None:
        obs["note"] = [{"text": f"Automatic figure before review: {decimal(auto.parasitemia_pct, PCT_DIGITS)} % "
                                f"({auto.n_parasitized} of {auto.rbc_counted} red cells)."}]
    return obs


def parasites_per_ul(report: SlideReport, refs: dict[str, str]) -> dict[str, Any]:
    """Parasites per microlitre (UCUM ``/uL``); the red-cell count it assumes is a component and a note."""
    s = report.summary
    obs = _base(report, codes.concept("parasites-per-ul"), refs)
    rbc = decimal(s.rbc_per_ul, PER_UL_DIGITS)
    obs["component"] = [{"code": codes.concept("assumed-rbc-per-ul"), "valueQuantity": codes.ucum(rbc, "/uL")}]
    obs["note"] = [{"text": f"Estimated as parasitemia x {rbc} red cells/uL; this red-cell count is assumed "
                            "(the app's setting), not measured on this specimen, unless the laboratory entered "
                            "the patient's own count."}]
    value = decimal(s.parasites_per_ul, PER_UL_DIGITS)
    if value is None:
        return _absent(obs, "no red cells were counted")
    obs["valueQuantity"] = codes.ucum(value, "/uL")
    return obs


def rbc_examined(report: SlideReport, refs: dict[str, str]) -> dict[str, Any]:
    """Red cells examined (UCUM ``{cells}``), with the parasitized ones among them as a component."""
    s = report.summary
    obs = _base(report, codes.concept("rbc-examined"), refs)
    obs["valueQuantity"] = codes.ucum(s.rbc_counted, "cells", "{cells}")
    obs["component"] = [{"code": codes.concept("rbc-parasitized"),
                         "valueQuantity": codes.ucum(s.n_parasitized, "cells", "{cells}")}]
    words = f"{s.n_images_ok} of {s.n_images} field images analysed; target {s.target_cells} red cells " + (
        "reached." if s.target_reached else "NOT reached.")
    obs["note"] = [{"text": words}]
    return obs


def observations(report: SlideReport, refs: dict[str, str]) -> list[dict[str, Any]]:
    made = [slide_result(report, refs), parasitemia(report, refs), parasites_per_ul(report, refs),
            rbc_examined(report, refs)]
    return [obs for obs in made if obs is not None]


def conclusion(report: SlideReport) -> str:
    """The result in words, as a clinician reads it on the LIS screen."""
    s = report.summary
    parts = []
    value = _optional(s, "slide_result")
    if value in codes.SLIDE_RESULTS:
        parts.append(codes.SLIDE_RESULTS[value][2] + ".")
    pct = decimal(s.parasitemia_pct, PCT_DIGITS)
    if pct is None:
        parts.append("No red cells were counted: no parasitemia can be given.")
    else:
        low = decimal(_optional(s, "parasitemia_ci_low_pct"), PCT_DIGITS)
        high = decimal(_optional(s, "parasitemia_ci_high_pct"), PCT_DIGITS)
        interval = f" (confidence interval {low}-{high} %)" if low is not None and high is not None else ""
        parts.append(f"Parasitemia {pct} %{interval}: {s.n_parasitized} parasitized of {s.rbc_counted} red cells "
                     f"counted; about {decimal(s.parasites_per_ul, PER_UL_DIGITS)} parasites/uL assuming "
                     f"{decimal(s.rbc_per_ul, PER_UL_DIGITS)} red cells/uL.")
    if s.flags:
        parts.append("Flags: " + ", ".join(s.flags) + ".")
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
