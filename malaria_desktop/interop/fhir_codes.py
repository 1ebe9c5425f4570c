"""The codes the FHIR export uses, each with where it was checked (docs/fhir.md has the same table).

Why constants in one place: a LIS maps codes once; a code that changes silently breaks that mapping.
LOINC is used where a code for the thing measured exists; what LOINC has no code for (the assumed red
cell count, the cells examined by the app, the interval bounds, the device's settings) gets a code in the
app's own CodeSystem (``LOCAL``), which a LIS can map or ignore. Sources (no network access to loinc.org
when this was written; each code was checked in at least one published listing):

- LOINC 51587-4 "Plasmodium sp [Presence] in Blood by Light microscopy": the CH ELM implementation guide's
  value set of expected organisms (build.fhir.org/ig/ahdis/ch-elm) and the National University Hospital
  Singapore test catalogue (malaria parasite screen, MPME).
- LOINC 101343-2 "Erythrocytes.parasite sp infected/cells in Blood" (number fraction, %): LOINC's published
  term listing (mirrored at healthassure.in/codes/loinc-101343-2). Not specific to Plasmodium or to
  microscopy; the Observation's ``method`` says how it was counted.
- SNOMED CT 260373001 Detected, 260415000 Not detected, 419984006 Inconclusive: HL7's COVID-19 FHIR
  Profile Library value set "detected-not-detected" (hl7.org/fhir/us/covid19library).
- SNOMED CT 119297000 Blood specimen; UCUM ``%``, ``/uL``, ``{cells}``, ``1``; HL7 v2-0074 ``LAB``; FHIR's
  observation-category ``laboratory``: the FHIR R4 specification's own examples and value sets.
"""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
DEVICE_NAME_TYPE = "http://hl7.org/fhir/device-nametype"  # R4 DeviceNameType: user-friendly-name, model-name

# The app's own systems. ".invalid" is a reserved domain (RFC 2606): these are names, not web addresses.
BASE = "http://malaria-desktop.invalid/fhir"
LOCAL = f"{BASE}/CodeSystem/malaria-desktop"
PATIENT_ID = f"{BASE}/sid/patient-id"  # the pseudonymous patient ID the technician typed
SLIDE_ID = f"{BASE}/sid/slide-id"
OPERATOR_ID = f"{BASE}/sid/operator"
MODEL_CARD_SHA256 = f"{BASE}/sid/model-card-sha256"
REPORT_ID = f"{BASE}/sid/report"

# (system, code, display); LOINC first where one exists, the local code always (one stable key for a LIS)
SLIDE_RESULT_LOINC = (LOINC, "51587-4", "Plasmodium sp [Presence] in Blood by Light microscopy")
PARASITEMIA_LOINC = (LOINC, "101343-2", "Erythrocytes.parasite sp infected/cells in Blood")
LOCAL_CODES: dict[str, str] = {
    "slide-result": "Malaria parasites seen on the thin film (automated screen)",
    "parasitemia": "Parasitized red cells per 100 red cells counted (thin film), %",
    "parasitemia-estimate": "Parasitemia corrected for the model's error rates (Rogan-Gladen), %",
    "parasitemia-ci-low": "True parasitemia, lower bound of the 95 % interval, %",
    "parasitemia-ci-high": "True parasitemia, upper bound of the 95 % interval, %",
    "detection-limit": "Parasitemia this slide's cell count detects 95 % of the time, %",
    "parasites-per-ul": "Parasitized red cells per microlitre of blood, estimated from parasitemia",
    "assumed-rbc-per-ul": "Red cells per microlitre used for the estimate (assumed unless measured)",
    "rbc-examined": "Red cells counted on the thin film images",
    "rbc-parasitized": "Parasitized red cells counted",
    "malaria-screen": "Malaria thin-film screen by automated image analysis",
    "decision-threshold": "Classifier decision threshold, P(parasitized)",
    "calibrated": "Model calibrated to this laboratory",
    "yes": "Yes",
    "no": "No",
}
# slide_result values of the slide summary -> (SNOMED code, display, words for the conclusion)
SLIDE_RESULTS: dict[str, tuple[str, str, str]] = {
    "parasites_seen": ("260373001", "Detected", "Malaria parasites seen"),
    "not_seen": ("260415000", "Not detected", "No malaria parasites seen"),
    "indeterminate": ("419984006", "Inconclusive", "Indeterminate: the slide could not be read with confidence"),
}
BLOOD_SPECIMEN = (SNOMED, "119297000", "Blood specimen")


def coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def local(code: str) -> dict[str, str]:
    """A coding of the app's own CodeSystem (KeyError for a code it does not define)."""
    return coding(LOCAL, code, LOCAL_CODES[code])


def concept(code: str, loinc: tuple[str, str, str] | None = None, text: str = "") -> dict[str, Any]:
    """CodeableConcept: the LOINC coding when there is one, then the local one, and words."""
    codings = ([coding(*loinc)] if loinc else []) + [local(code)]
    return {"coding": codings, "text": text or LOCAL_CODES[code]}


def ucum(value: Any, unit: str, code: str | None = None) -> dict[str, Any]:
    """A Quantity in UCUM (``unit`` shown, ``code`` the UCUM expression; the same when not given)."""
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


__all__ = ["BASE", "LOCAL", "LOCAL_CODES", "SLIDE_RESULTS", "coding", "concept", "local", "ucum"]
