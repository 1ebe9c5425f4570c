"""Analysis ▸ Calibrate to This Lab…, Load Model…, Use the Bundled Model in the window."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.calibration_dialog import CalibrateDialog
from tests.helpers.calibration_cells import foreign, pretrained_base, synthetic_cells
from tests.helpers.tiny_model import make_tiny_model
from tests.qt.waits import wait_idle, wait_threads


def _first_cell(window):
    key = window.current_key
    return key, window.document.result(key).cells[0]


def test_menu_has_the_model_commands(make_window) -> None:
    window = make_window()
    texts = [a.text() for a in window.menuBar().actions()]
    analysis = window.menuBar().actions()[texts.index("&Analysis")].menu()
    names = [a.text() for a in analysis.actions()]
    assert {"Ca&librate to This Lab\u2026", "&Load Model\u2026", "Use the &Bundled Model"} <= set(names)
    assert "tiny-test" in window.model_status.text()


@pytest.mark.slow
def test_switching_model_reanalyses_and_keeps_review_edits(qtbot, make_window, smear_dir: Path, tmp_path: Path):
    other = make_tiny_model(tmp_path / "lab model", input_size=32, threshold=0.6)
    card = json.loads((other / "model_card.json").read_text())
    card["name"] = "lab-model"
    (other / "model_card.json").write_text(json.dumps(card))
    window = make_window()
    window.open_paths([smear_dir])
    wait_idle(qtbot, window)
    key, cell = _first_cell(window)
    flipped = "uninfected" if cell.label == "parasitized" else "parasitized"
    window.document.review.set_label(key, cell.cell.cell_id, flipped)
    n_cells = {k: r.n_cells for k, r in window.document.results.items()}

    window.models.activate(other)
    qtbot.waitUntil(lambda: "lab-model" in window.model_status.text(), timeout=30_000)
    wait_idle(qtbot, window)  # the re-analysis with the lab's model
    assert "lab model" in window.model_status.text()  # the folder is named too
    assert window.document.threshold == pytest.approx(0.6)
    assert all(r.threshold == pytest.approx(0.6) for r in window.document.results.values())
    assert {k: r.n_cells for k, r in window.document.results.items()} == n_cells
    assert window.document.review.override(key, cell.cell.cell_id) == flipped  # the edit survived
    assert window.document.session.model["name"] == "lab-model"
    again = make_window(classifier=None)  # the next start of the app uses the chosen model too
    qtbot.waitUntil(lambda: "lab-model" in again.model_status.text(), timeout=30_000)
    again.close()

    window.action_map[ActionId.USE_BUNDLED].trigger()  # back to the bundled model
    qtbot.waitUntil(lambda: "lab-model" not in window.model_status.text(), timeout=30_000)
    wait_idle(qtbot, window)
    assert window.document.review.override(key, cell.cell.cell_id) == flipped


def test_calibrate_dialog_refuses_too_few_cells_with_a_message(qtbot, make_window, smear_dir: Path) -> None:
    window = make_window()
    window.open_paths([smear_dir])
    wait_idle(qtbot, window)
    key, cell = _first_cell(window)
    window.document.review.set_label(key, cell.cell.cell_id, "parasitized")
    dialog = window.models.open_dialog()
    qtbot.addWidget(dialog)
    assert dialog.use_current.isChecked() and "(1)" in dialog.use_current.text()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Not calibrated"), timeout=30_000)
    assert "both kinds" in dialog.status.text() or "at least" in dialog.status.text()
    assert not dialog.activate_button.isEnabled()
    dialog.close()
    wait_threads(qtbot, dialog.runner)


@pytest.mark.slow
def test_calibrate_dialog_end_to_end(qtbot, tmp_path: Path) -> None:
    crops, labels, _ = synthetic_cells(range(20))
    base = pretrained_base(tmp_path / "base", crops, labels)
    lab_crops, lab_labels, fields = synthetic_cells(range(200, 208))
    for i, (crop, label, field) in enumerate(zip(foreign(lab_crops, seed=3), lab_labels, fields, strict=False)):
        folder = tmp_path / "export" / ("Parasitized" if label else "Uninfected")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"C{int(field[5:]) // 2:09d}_{field}_cell{i}.png"), crop[..., ::-1])
    dialog = CalibrateDialog(base)
    qtbot.addWidget(dialog)
    assert not dialog.start_button.isEnabled()  # nothing chosen yet
    dialog.add_sources([tmp_path / "export"])
    dialog.out_edit.setText(str(tmp_path / "site"))
    dialog.start()
    assert dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=240_000)
    assert "Calibrated (cross-validated)" in dialog.figures.text() and "better" in dialog.figures.text()
    assert dialog.activate_button.isEnabled()
    with qtbot.waitSignal(dialog.activateRequested) as blocker:
        dialog.activate_button.click()
    assert blocker.args[0] == tmp_path / "site" and (tmp_path / "site" / "model.onnx").is_file()
    wait_threads(qtbot, dialog.runner)


@pytest.mark.slow  # trains a calibration: in `make test`, not in `make test-fast`
def test_cancelled_calibration_writes_nothing(qtbot, tmp_path: Path, tiny_model_dir: Path) -> None:
    crops, labels, fields = synthetic_cells(range(200, 206))
    for i, (crop, label, field) in enumerate(zip(crops, labels, fields, strict=False)):
        folder = tmp_path / "export" / ("Parasitized" if label else "Uninfected")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"C1_{field}_cell{i}.png"), crop[..., ::-1])
    base = pretrained_base(tmp_path / "base", crops, labels)
    dialog = CalibrateDialog(base)
    qtbot.addWidget(dialog)
    dialog.add_sources([tmp_path / "export"])
    dialog.out_edit.setText(str(tmp_path / "site"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=60_000)
    dialog.cancel_button.click()
    assert "cancelled" in dialog.status.text()
    wait_threads(qtbot, dialog.runner)
    assert not (tmp_path / "site").exists() and dialog.outcome is None


def test_a_vanished_model_folder_falls_back_to_the_bundled_model(qtbot, make_window, settings_file: Path,
                                                                 tmp_path: Path) -> None:
    from malaria_desktop.qt.settings import AppSettings

    AppSettings.at_path(settings_file).set_value("model/folder", str(tmp_path / "deleted model"))
    window = make_window(classifier=None)
    qtbot.waitUntil(lambda: window.classifier is not None, timeout=30_000)
    assert "trained_model" in window.model_status.text() and not window.model_error


def test_label_this_slide_from_a_coco_file(qtbot, make_window, smear_dir: Path, tmp_path: Path) -> None:
    """The dialog's import labels the open slide's cells from COCO boxes (one undo step) and offers them."""
    import json

    window = make_window()
    window.open_paths([smear_dir])
    wait_idle(qtbot, window)
    key, result = next((k, r) for k, r in window.document.results.items() if r.status == "ok" and r.cells)
    cells = [c for c in result.cells if not c.cell.clump]
    coco = {"images": [{"id": 1, "file_name": Path(key).name}],
            "categories": [{"id": 1, "name": "RBC"}, {"id": 2, "name": "trophozoite"}],
            "annotations": [{"id": i, "image_id": 1, "category_id": 2 if i == 0 else 1,
                             "bbox": list(c.cell.bbox)} for i, c in enumerate(cells)]}
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(coco))
    dialog = window.models.open_dialog()
    qtbot.addWidget(dialog)
    dialog.importRequested.emit(path)
    review = window.document.review
    assert review.override(key, cells[0].cell.cell_id) == "parasitized"
    assert all(review.override(key, c.cell.cell_id) == "uninfected" for c in cells[1:])
    assert dialog.use_current.isChecked() and f"({len(cells)})" in dialog.use_current.text()
    assert "labelled from boxes.json" in dialog.status.text()
    review.undo()
    assert review.edits_count == 0
    path.write_text("")
    dialog.importRequested.emit(path)
    assert "empty" in dialog.status.text() and review.edits_count == 0
    dialog.close()
