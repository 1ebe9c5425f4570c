"""The window's export: slide.fhir.json in the folder and its manifest, the export's own figures, the review rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from malaria_desktop.core.report.export import export_session
from malaria_desktop.core.report.manifest import read_manifest, verify_folder
from malaria_desktop.core.review.session import Session, SessionMetadata
from malaria_desktop.interop import fhir_codes as codes
from malaria_desktop.interop.fhir import FHIR_FILE_NAME
from malaria_desktop.interop.fhir_session import loaded_card_sha256, review_complete, session_writer
from tests.core.test_export import make_field, read_csv

BAND = (0.2, 0.5)  # uncertain: uninfected calls with P in [0.2, 0.5] -> cell 3 (0.3) of each field


@pytest.fixture
def session(tmp_path: Path) -> Session:
    images = tmp_path / "images"
    images.mkdir()
    s = Session(metadata=SessionMetadata("Zoë \"<b>\" 42", "slide 7", "Ada Técnica", "2026-11-25", "n"),
                settings={"threshold": 0.5, "rbc_per_ul": 5_000_000, "hyper_cutoff_pct": 5.0, "target_cells": 2000},
                model={"name": "tiny", "calibration": "lab-7"})
    s.set_result(make_field(images / "field a.png"))
    s.set_result(make_field(images / "field b.png"))
    return s


def export(session: Session, out: Path) -> tuple[dict[str, str], dict]:
    export_session(session, out, crops="none", annotate=False,
                   extra_files={FHIR_FILE_NAME: session_writer(session, BAND, card_sha256="cd" * 32)})
    text = (out / FHIR_FILE_NAME).read_text(encoding="utf-8")
    Bundle.model_validate_json(text)
    resources: dict = {}
    for entry in json.loads(text)["entry"]:
        res = entry["resource"]
        key = res["resourceType"]
        if key == "Observation":
            key = next(c["code"] for c in res["code"]["coding"] if c["system"] == codes.LOCAL)
        resources[key] = res
    return read_csv(out / "slide.csv")[0], resources


def review_queues(session: Session) -> None:
    """Decide on every cell of both queues (parasitized calls: 0, 2, 5; uncertain: 3)."""
    for key in session.results:
        session.review.set_label(key, 0, "parasitized")
        session.review.set_label(key, 2, "uninfected")  # the technician corrects one call per field
        session.review.set_label(key, 5, "parasitized")
        session.review.set_label(key, 3, "uninfected")


def test_export_lists_the_bundle_and_it_states_the_automatic_figures(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "out"
    row, res = export(session, out)
    assert FHIR_FILE_NAME in read_manifest(out)["files"] and verify_folder(out) == []
    assert res["DiagnosticReport"]["status"] == "preliminary" and "performer" not in res["DiagnosticReport"]
    assert res["parasitemia"]["valueQuantity"]["value"] == float(row["parasitemia_pct"]) == 50.0
    assert res["rbc-examined"]["valueQuantity"]["value"] == int(row["rbc_counted"]) == 12
    assert res["DiagnosticReport"]["subject"]["identifier"]["value"] == 'Zoë "<b>" 42'
    assert res["DiagnosticReport"]["effectiveDateTime"] == "2026-11-25"
    props = {p["type"]["coding"][0]["code"]: p for p in res["Device"]["property"]}
    assert props["calibrated"]["valueCode"][0]["coding"][0]["code"] == "yes"
    assert res["Device"]["identifier"][0]["value"] == "cd" * 32


def test_reviewed_export_is_final_with_the_reviewer_and_the_reviewed_figures(session: Session,
                                                                              tmp_path: Path) -> None:
    review_queues(session)
    row, res = export(session, tmp_path / "out")
    assert res["DiagnosticReport"]["status"] == "final"
    assert {o["status"] for k, o in res.items() if k not in ("DiagnosticReport", "Specimen", "Device")} == {"final"}
    assert res["DiagnosticReport"]["performer"][0]["display"] == "Ada Técnica"
    assert res["parasitemia"]["valueQuantity"]["value"] == float(row["reviewed_parasitemia_pct"]) == pytest.approx(
        33.333)
    assert res["rbc-examined"]["component"][0]["valueQuantity"]["value"] == int(row["reviewed_n_parasitized"]) == 4
    assert "50.000 %" in res["parasitemia"]["note"][0]["text"]  # the automatic figure beside it


def test_partly_reviewed_stays_preliminary_with_the_corrections_so_far(session: Session, tmp_path: Path) -> None:
    key = next(iter(session.results))
    session.review.set_label(key, 2, "uninfected")
    row, res = export(session, tmp_path / "out")
    dr = res["DiagnosticReport"]
    assert dr["status"] == "preliminary" and "Review not complete: 1 cells" in dr["conclusion"]
    assert res["rbc-examined"]["component"][0]["valueQuantity"]["value"] == int(row["reviewed_n_parasitized"]) == 5
    assert "50.000 %" in res["parasitemia"]["note"][0]["text"]


def test_a_slide_nobody_looked_at_is_never_final(session: Session) -> None:
    assert not review_complete(session, (0.99, 0.999))  # nothing left in the queues, but no person looked
    assert not review_complete(session, None)


def test_labels_accepted_unseen_do_not_make_a_review(session: Session) -> None:
    acceptance = getattr(session.review, "acceptance", None)
    if acceptance is None:
        pytest.skip("the review state of this version does not record unseen acceptance (issue 20)")
    review_queues(session)
    key = next(iter(session.results))
    session.review.set_label(key, 5, None)  # back to the model's call: cell 5 is left in the confirm queue
    assert not review_complete(session, BAND)
    with acceptance.unseen():
        session.review.set_label(key, 5, "parasitized")  # accepted without being shown
    assert not review_complete(session, BAND)
    session.review.set_label(key, 5, "uninfected")  # looked at and corrected
    assert review_complete(session, BAND)


def test_card_hash_only_for_the_model_the_session_names(session: Session, tiny_model_dir: Path) -> None:
    from malaria_desktop.core.classification.classifier import Classifier

    classifier = Classifier.load(tiny_model_dir)
    assert loaded_card_sha256(session, classifier) == ""  # the session was analysed by "tiny", not this one
    session.model = {"name": classifier.card.name}
    assert len(loaded_card_sha256(session, classifier)) == 64
