"""One slide's result as a FHIR R4 Bundle (JSON) that a laboratory information system can take.

Why FHIR, and why R4 through ``fhir.resources.R4B``: laboratory information systems (OpenELIS and others)
and patient records take FHIR R4; ``fhir.resources`` 8 ships R5 as its default models and R4B (4.3) as the
R4-line models. The resources used here (Bundle, DiagnosticReport, Observation, Specimen, Device) have the
same shape in R4 and R4B, and R5 renamed parts of Device, so the R4B models validate what an R4 system
reads. Every resource is validated by those models as it is built; a failure is a ``FhirExportError``.

The Bundle is a ``transaction``: a FHIR server takes it in one POST to its base URL (the Specimen and the
Device are created only once, by identifier); a LIS reading files takes the entries by ``resourceType``.
The patient is referenced by the pseudonymous ID only (no Patient resource, no name, no birth date).
Layout and codes: docs/fhir.md; code sources: ``interop.fhir_codes``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.interop import fhir_codes as codes
from malaria_desktop.interop.fhir_observations import diagnostic_report, observations
from malaria_desktop.interop.fhir_report import ModelInfo, SlideReport, device, plain, specimen

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

FHIR_FILE_NAME = "slide.fhir.json"  # its name inside a report folder (listed in manifest.json)
MEDIA_TYPE = "application/fhir+json"


class FhirExportError(MalariaDesktopError):
    """The FHIR Bundle could not be built or written (message for the technician)."""


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _entry(url: str, resource: Any, request: dict[str, str]) -> dict[str, Any]:
    return {"fullUrl": url, "resource": resource, "request": request}


def _validated(resource: dict[str, Any]) -> Any:
    """The ``fhir.resources`` R4B model of ``resource`` (pydantic validation; FhirExportError when invalid)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        return get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        raise FhirExportError(f"The FHIR {resource['resourceType']} is not valid: {exc}") from exc


def _conditional(system: str, identifiers: list[dict[str, str]] | None) -> dict[str, str]:
    """``ifNoneExist`` on the first identifier, so a re-sent Bundle does not duplicate the resource."""
    if not identifiers:
        return {}
    return {"ifNoneExist": "identifier=" + quote(f"{system}|{identifiers[0]['value']}", safe=":/|")}


def build_bundle(report: SlideReport) -> Bundle:
    """The validated Bundle: DiagnosticReport first, then its Observations, the Specimen and the Device."""
    refs = {"Specimen": _urn(), "Device": _urn()}
    spec, dev = specimen(report), device(report)
    obs = [(_urn(), o) for o in observations(report, refs)]
    report_url = _urn()
    entries = [_entry(report_url, _validated(diagnostic_report(report, refs, [u for u, _ in obs])),
                      {"method": "POST", "url": "DiagnosticReport"})]
    entries += [_entry(u, _validated(o), {"method": "POST", "url": "Observation"}) for u, o in obs]
    entries.append(_entry(refs["Specimen"], _validated(spec), {
        "method": "POST", "url": "Specimen", **_conditional(codes.SLIDE_ID, spec.get("identifier"))}))
    entries.append(_entry(refs["Device"], _validated(dev), {
        "method": "POST", "url": "Device", **_conditional(codes.MODEL_CARD_SHA256, dev.get("identifier"))}))
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "identifier": {"system": codes.REPORT_ID, "value": report_url.removeprefix("urn:uuid:")},
        "timestamp": report.issued.isoformat(timespec="seconds"),
        "entry": entries,
    }
    validated: Bundle = _validated(bundle)
    return validated


def bundle_json(report: SlideReport) -> str:
    """The Bundle as UTF-8 JSON text (indented: a person may open it), ending in a newline."""
    return build_bundle(report).model_dump_json(indent=1, exclude_none=True) + "\n"


def write_bundle(path: Path | str, report: SlideReport) -> Path:
    """Build, validate and write the Bundle atomically: the whole file or none (never a partial one)."""
    from malaria_desktop.core.atomic import write_text
    from malaria_desktop.core.errors import UnsafeTargetError

    path = Path(path)
    text = bundle_json(report)  # built before the file is touched: an invalid Bundle leaves nothing behind
    if path.is_dir():
        raise FhirExportError(f"{path} is a folder; give a file name for the FHIR Bundle (e.g. {FHIR_FILE_NAME}).")
    if not path.parent.is_dir():
        raise FhirExportError(f"The folder {path.parent} does not exist or is not a folder; the FHIR Bundle was not "
                              "written.")
    try:
        return write_text(path, text, encoding="utf-8")
    except UnsafeTargetError as exc:
        raise FhirExportError(f"{exc} The FHIR Bundle was not written.") from exc
    except OSError as exc:
        raise FhirExportError(f"Could not write the FHIR Bundle to {path}: {exc.strerror or exc}.") from exc


__all__ = ["FHIR_FILE_NAME", "FhirExportError", "ModelInfo", "SlideReport", "build_bundle", "bundle_json", "plain",
           "write_bundle"]
