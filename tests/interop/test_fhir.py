"""The FHIR Bundle of one slide: valid R4 (parsed back by the models), the CSV's numbers, status, safe text."""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from malaria_desktop.core.report.counts import SlideSummary, summarise_slide, write_slide_csv
from malaria_desktop.interop import fhir_codes as codes
from malaria_desktop.interop.fhir import FhirExportError, ModelInfo, SlideReport, bundle_json, write_bundle
from malaria_desktop.interop.fhir_report import csv_row

ISSUED = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
HOSTILE = 'Zoë Ñúñez 李\x00\x1b[31m <script>alert("x")</script> ", DROP TABLE; =cmd|\'/C calc\'!A0 \u202e'


def summary(rbc: int = 2100, par: int = 37, rbc_per_ul: float = 4_800_000) -> SlideSummary:
    from malaria_desktop.core.report.counts import ImageSummary

    images = [ImageSummary("a.png", "ok", "", rbc, par, None, None)]
    return summarise_slide(images, rbc_per_ul=rbc_per_ul)


def report(figures: SlideSummary | None = None, automatic: SlideSummary | None = None, **kw) -> SlideReport:
    """A report of ``figures`` (default ``summary()``) as the CLI builds it: slide.csv rows of summaries."""
    base = dict(figures=csv_row(figures if figures is not None else summary()),
                automatic=csv_row(automatic) if automatic is not None else None,
                model=ModelInfo("tiny", 0.5, "ab" * 32, calibrated=True), app_version="9.9",
                issued=ISSUED, patient_id="P-0042", slide_id="S-7", collected="2026-11-30")
    base.update(kw)
    return SlideReport(**base)


def parsed(text: str) -> tuple[Bundle, dict[str, list[dict]]]:
    """The Bundle parsed by the R4B models, and its resources as plain JSON, by resource type."""
    bundle = Bundle.model_validate_json(text)  # raises on anything invalid
    by_type: dict[str, list[dict]] = {}
    for entry in json.loads(text)["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return bundle, by_type


def obs_by_code(by_type: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for obs in by_type["Observation"]:
        local = [c["code"] for c in obs["code"]["coding"] if c["system"] == codes.LOCAL]
        out[local[0]] = obs
    return out


def test_bundle_is_valid_r4_with_one_report_its_observations_specimen_and_device() -> None:
    bundle, by_type = parsed(bundle_json(report()))
    assert bundle.type == "transaction"
    assert sorted(by_type) == ["Device", "DiagnosticReport", "Observation", "Specimen"]
    dr = by_type["DiagnosticReport"][0]
    urls = {e.fullUrl for e in bundle.entry}
    assert {r["reference"] for r in dr["result"]} <= urls and len(dr["result"]) == len(by_type["Observation"])
    assert dr["specimen"][0]["reference"] in urls
    assert all(o["device"]["reference"] in urls for o in by_type["Observation"])
    assert all(e.request.method == "POST" for e in bundle.entry)
    assert dr["code"]["coding"][0] == {"system": codes.LOINC, "code": "51587-4",
                                       "display": "Plasmodium sp [Presence] in Blood by Light microscopy"}


def test_numbers_equal_slide_csv(tmp_path: Path) -> None:
    s = summary(rbc=2345, par=61, rbc_per_ul=4_321_000)
    write_slide_csv(tmp_path / "slide.csv", s)
    with open(tmp_path / "slide.csv", encoding="utf-8-sig", newline="") as f:
        row = next(csv.DictReader(f))
    _, by_type = parsed(bundle_json(report(figures=s)))
    obs = obs_by_code(by_type)
    assert obs["parasitemia"]["valueQuantity"]["value"] == float(row["parasitemia_pct"])
    assert obs["parasitemia"]["valueQuantity"]["code"] == "%"
    assert obs["parasites-per-ul"]["valueQuantity"]["value"] == float(row["parasites_per_ul"])
    assert obs["parasites-per-ul"]["valueQuantity"]["code"] == "/uL"
    assert obs["parasites-per-ul"]["component"][0]["valueQuantity"]["value"] == float(row["rbc_per_ul"])
    assert obs["rbc-examined"]["valueQuantity"]["value"] == int(row["rbc_counted"])
    assert obs["rbc-examined"]["component"][0]["valueQuantity"]["value"] == int(row["n_parasitized"])
    assert row["parasitemia_pct"] in by_type["DiagnosticReport"][0]["conclusion"]


def test_preliminary_while_automatic_final_with_reviewer_once_reviewed() -> None:
    _, auto = parsed(bundle_json(report()))
    assert {r["status"] for t in ("DiagnosticReport", "Observation") for r in auto[t]} == {"preliminary"}
    assert "performer" not in auto["DiagnosticReport"][0]
    assert "not reviewed by a person" in auto["DiagnosticReport"][0]["conclusion"]

    _, done = parsed(bundle_json(report(reviewed=True, reviewer="A. Técnica", n_reviewed=40,
                                        automatic=summary(par=50))))
    assert {r["status"] for t in ("DiagnosticReport", "Observation") for r in done[t]} == {"final"}
    dr = done["DiagnosticReport"][0]
    assert dr["performer"] == [{"identifier": {"system": codes.OPERATOR_ID, "value": "A. Técnica"},
                                "display": "A. Técnica"}]
    assert "Reviewed by a person (A. Técnica)" in dr["conclusion"]
    assert "2.381 %" in obs_by_code(done)["parasitemia"]["note"][0]["text"]  # automatic 50/2100 beside it


def test_partial_review_stays_preliminary_and_says_so() -> None:
    _, by_type = parsed(bundle_json(report(reviewed=False, n_reviewed=3)))
    dr = by_type["DiagnosticReport"][0]
    assert dr["status"] == "preliminary" and "Review not complete: 3 cells" in dr["conclusion"]


def test_hostile_and_non_ascii_patient_fields_stay_plain_data(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b.json", report(patient_id=HOSTILE, slide_id=HOSTILE, reviewer=HOSTILE,
                                                    reviewed=True, collected="2026-02-31; <b>"))
    raw = path.read_bytes()
    text = raw.decode("utf-8")  # valid UTF-8
    assert not any(ord(ch) < 32 and ch != "\n" for ch in text)  # no control character reaches the file
    _, by_type = parsed(text)
    expected = HOSTILE.replace("\x00", "").replace("\x1b", "").strip()
    dr = by_type["DiagnosticReport"][0]
    assert dr["subject"] == {"identifier": {"system": codes.PATIENT_ID, "value": expected}}
    assert by_type["Specimen"][0]["identifier"][0]["value"] == expected
    assert dr["performer"][0]["display"] == expected
    assert "effectiveDateTime" not in dr  # an impossible date is left out, never guessed
    # the only patient data is the pseudonymous ID: no Patient resource, no name or birth date anywhere
    assert "Patient" not in by_type and "birthDate" not in text and '"name"' not in text.replace(
        '"name": "Malaria Desktop"', "").replace('"name": "tiny"', "")


def test_conditional_create_is_url_encoded() -> None:
    bundle, _ = parsed(bundle_json(report(slide_id="S 7&x=<1>")))
    specimen = next(e for e in bundle.entry if e.request.url == "Specimen")
    assert specimen.request.ifNoneExist == "identifier=" + codes.SLIDE_ID + "|S%207%26x%3D%3C1%3E"


def test_device_states_model_threshold_hash_and_calibration() -> None:
    _, by_type = parsed(bundle_json(report()))
    dev = by_type["Device"][0]
    assert dev["identifier"] == [{"system": codes.MODEL_CARD_SHA256, "value": "ab" * 32}]
    assert {n["type"]: n["name"] for n in dev["deviceName"]} == {"user-friendly-name": "Malaria Desktop",
                                                                 "model-name": "tiny"}
    props = {p["type"]["coding"][0]["code"]: p for p in dev["property"]}
    assert props["decision-threshold"]["valueQuantity"][0]["value"] == 0.5
    assert props["calibrated"]["valueCode"][0]["coding"][0]["code"] == "yes"


def test_no_cells_counted_gives_absent_values_not_zero() -> None:
    empty = summarise_slide([], rbc_per_ul=5e6)
    _, by_type = parsed(bundle_json(report(figures=empty)))
    obs = obs_by_code(by_type)
    assert "valueQuantity" not in obs["parasitemia"] and obs["parasitemia"]["dataAbsentReason"]
    assert "valueQuantity" not in obs["parasites-per-ul"]
    assert obs["rbc-examined"]["valueQuantity"]["value"] == 0


ESTIMATE_COLUMNS = ("slide_result", "parasitemia_estimate_pct", "parasitemia_ci_low_pct", "parasitemia_ci_high_pct",
                    "detection_limit_pct")


def with_estimate(monkeypatch: pytest.MonkeyPatch, extra: list[str], per_ul: str | None = None) -> None:
    """slide.csv as issue 19 extends it (verdict, estimate, interval, detection limit; no density when not seen)."""
    from malaria_desktop.core.report import counts

    plain_row = counts.slide_row

    def row(s: SlideSummary) -> list:
        values = plain_row(s)
        if per_ul is not None:
            values[counts.SLIDE_COLUMNS.index("parasites_per_ul")] = per_ul
        return values + extra

    monkeypatch.setattr(counts, "slide_row", row)
    monkeypatch.setattr(counts, "SLIDE_COLUMNS", counts.SLIDE_COLUMNS + ESTIMATE_COLUMNS)


def test_slide_result_estimate_and_interval_when_slide_csv_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    with_estimate(monkeypatch, ["parasites_seen", "1.500", "1.200", "2.346", "0.800"])
    _, by_type = parsed(bundle_json(report()))
    obs = obs_by_code(by_type)
    result = obs["slide-result"]
    assert result["code"]["coding"][0]["code"] == "51587-4"
    assert result["valueCodeableConcept"]["coding"][0] == {"system": codes.SNOMED, "code": "260373001",
                                                            "display": "Detected"}
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in obs["parasitemia"]["component"]}
    assert comps == {"parasitemia-estimate": 1.5, "parasitemia-ci-low": 1.2, "parasitemia-ci-high": 2.346,
                     "detection-limit": 0.8}
    assert obs["parasitemia"]["valueQuantity"]["value"] == 1.762  # the counted figure, as slide.csv
    conclusion = by_type["DiagnosticReport"][0]["conclusion"]
    assert conclusion.startswith("Malaria parasites seen.") and "(95 % interval 1.200-2.346 %)" in conclusion


def test_no_density_below_the_detection_limit_when_slide_csv_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    with_estimate(monkeypatch, ["not_seen", "0.000", "0.000", "0.900", "1.100"], per_ul="")
    _, by_type = parsed(bundle_json(report()))
    obs = obs_by_code(by_type)
    assert obs["slide-result"]["valueCodeableConcept"]["coding"][0]["code"] == "260415000"
    assert "valueQuantity" not in obs["parasites-per-ul"]
    assert "not seen" in obs["parasites-per-ul"]["dataAbsentReason"]["text"]


# ----------------------------------------------------------------------------- writing


def test_write_to_a_folder_or_a_missing_folder_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FhirExportError, match="is a folder"):
        write_bundle(tmp_path, report())
    with pytest.raises(FhirExportError, match="does not exist"):
        write_bundle(tmp_path / "nope" / "b.json", report())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_write_to_an_unwritable_folder_fails_clearly_and_leaves_no_partial_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(FhirExportError, match="Could not write the FHIR Bundle"):
            write_bundle(folder / "b.json", report())
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_rewrite_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_bundle(path, report(patient_id="first"))
    write_bundle(path, report(patient_id="second"))
    assert "second" in path.read_text(encoding="utf-8") and "first" not in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_values_keep_the_csv_rounding() -> None:
    s = summary(rbc=3, par=1)  # 33.3333... %
    _, by_type = parsed(bundle_json(report(figures=s)))
    assert Decimal(str(obs_by_code(by_type)["parasitemia"]["valueQuantity"]["value"])) == Decimal("33.333")
