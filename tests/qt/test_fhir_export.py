"""File ▸ Export writes the FHIR Bundle beside the CSVs (listed in manifest.json), final once the queues are done."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from PySide6.QtWidgets import QWidget

from malaria_desktop.core.report.manifest import read_manifest, verify_folder
from malaria_desktop.qt.actions import create_actions
from malaria_desktop.qt.controllers.context import ControllerContext
from malaria_desktop.qt.controllers.export import ExportController
from malaria_desktop.qt.controllers.model import ModelState
from malaria_desktop.qt.models import SlideDocument
from malaria_desktop.qt.settings import AppSettings
from tests.helpers.factories import image_result as fake_result


def _report_status(folder) -> tuple[str, dict]:
    text = (folder / "slide.fhir.json").read_text(encoding="utf-8")
    Bundle.model_validate_json(text)
    report = next(e["resource"] for e in json.loads(text)["entry"]
                  if e["resource"]["resourceType"] == "DiagnosticReport")
    return report["status"], report


def _controller(document, settings, actions, host, errors) -> ExportController:
    """The controller with a model state (its band decides the review rule)."""
    ctx = ControllerContext(document=document, actions=actions, settings=settings, model=ModelState(),
                            show_error=lambda *a: errors.append(a), dialog_parent=host)
    return ExportController(ctx)


def test_export_writes_the_fhir_bundle_preliminary_then_final(qtbot, tmp_path, settings_file) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    actions = create_actions(host)
    document = SlideDocument()
    errors: list = []
    controller = _controller(document, AppSettings.at_path(settings_file), actions, host, errors)
    document.session.metadata.patient_id = "P-\u00e9-7"
    document.session.metadata.operator = "Ana"
    document.set_result(fake_result(tmp_path / "a.png", [0.9, 0.2]))
    with qtbot.waitSignal(controller.exported, timeout=30_000):
        controller.export_to(tmp_path / "report")
    controller.wait(10_000)
    folder = tmp_path / "report"
    assert not errors and "slide.fhir.json" in read_manifest(folder)["files"] and verify_folder(folder) == []
    status, report = _report_status(folder)
    assert status == "preliminary" and report["subject"]["identifier"]["value"] == "P-\u00e9-7"

    key = next(iter(document.session.results))
    for cell in document.session.results[key].cells:  # the technician decides on every cell
        document.session.review.set_label(key, cell.cell.cell_id, cell.label)
    with qtbot.waitSignal(controller.exported, timeout=30_000):
        controller.export_to(tmp_path / "report")
    controller.wait(10_000)
    status, report = _report_status(folder)
    assert status == "final" and report["performer"][0]["display"] == "Ana" and not errors
