"""Reviewed cells for calibration: from saved sessions and from the app's own export folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.calibration.data import CalibrationInputError, field_of, load_reviewed, slide_of
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.image_io import file_sha256, load_image
from malaria_desktop.core.report.export import export_session
from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review.session import Session, SessionMetadata, save_session
from malaria_desktop.core.review.state import image_key
from malaria_desktop.core.synthetic import generate_smear

SIZE = 32


def _cells_of(smear) -> tuple[CellResult, ...]:
    out = []
    for i, c in enumerate(smear.rbcs):
        r = int(c.radius) + 2
        x, y = int(c.centroid[0]) - r, int(c.centroid[1]) - r
        if c.on_edge or x < 0 or y < 0 or x + 2 * r > smear.image.shape[1] or y + 2 * r > smear.image.shape[0]:
            continue
        mask = np.zeros((2 * r, 2 * r), np.uint8)
        cv2.circle(mask, (r, r), r - 2, 1, -1)
        contour = np.array([[x, y], [x + 2 * r, y], [x + 2 * r, y + 2 * r]], np.int32)
        cell = Cell(i, (x, y, 2 * r, 2 * r), c.centroid, int(mask.sum()), mask.astype(bool), contour, False)
        out.append(CellResult(cell, 0.9 if c.parasitized else 0.1, "parasitized" if c.parasitized else "uninfected"))
    return tuple(out)


@pytest.fixture
def reviewed_session(tmp_path: Path) -> tuple[Session, Path]:
    """Two synthetic fields; the technician labelled 6 cells (2 relabelled) and drew one missed cell."""
    session = Session(metadata=SessionMetadata(patient_id="P-7", slide_id="S1"))
    for seed in (1, 2):
        smear = generate_smear(seed, 480, 360, cell_diameter=40, parasitized_fraction=0.3)
        path = tmp_path / f"field{seed}.png"
        cv2.imwrite(str(path), smear.image[..., ::-1])
        cells = _cells_of(smear)
        session.set_result(ImageResult(path, "ok", image_shape=(360, 480), cells=cells, threshold=0.5,
                                       content_sha256=file_sha256(path)))
    keys = [image_key(tmp_path / "field1.png"), image_key(tmp_path / "field2.png")]
    first = session.results[keys[0]].cells
    review = session.review
    review.set_label(keys[0], first[0].cell.cell_id, "parasitized")
    review.set_label(keys[0], first[1].cell.cell_id, "uninfected")
    review.set_label(keys[0], first[2].cell.cell_id, "not_cell")  # reviewed, not a cell: a negative
    review.set_label(keys[0], first[3].cell.cell_id, first[3].label)  # a confirmation counts as reviewed
    second = session.results[keys[1]].cells
    review.set_label(keys[1], second[0].cell.cell_id, "parasitized")
    review.set_label(keys[1], second[1].cell.cell_id, "uninfected")
    review.add_cell(keys[1], (10, 10, 40, 40), "parasitized")
    path = save_session(session, tmp_path / "slide.mdsession")
    return session, path


def test_session_gives_its_reviewed_cells_with_reviewed_labels(reviewed_session, tmp_path: Path) -> None:
    session, path = reviewed_session
    cells = load_reviewed([path], SIZE)
    assert len(cells) == 7 and cells.n_parasitized == 3  # the not-a-cell mark is a negative, flagged
    assert int(cells.not_cell.sum()) == 1 and int(cells.red_cells.sum()) == 6
    assert cells.sources == ("slide.mdsession",) and set(cells.slides) == {"slide.mdsession"}
    assert set(cells.fields) == {"slide.mdsession/field1.png", "slide.mdsession/field2.png"}
    key = image_key(tmp_path / "field1.png")
    first = session.results[key].cells[0]
    image = load_image(tmp_path / "field1.png")
    np.testing.assert_array_equal(cells.crops[0], crop_cell(image, first.cell.bbox, first.cell.mask, SIZE))
    assert cells.labels[0] == 1 and cells.labels[1] == 0


def test_cells_accepted_without_being_shown_are_not_calibration_truth(reviewed_session, tmp_path: Path) -> None:
    session, _ = reviewed_session
    key = image_key(tmp_path / "field2.png")
    with session.review.acceptance.unseen():  # select-all + accept on the rest of field 2
        for cr in session.results[key].cells[2:]:
            session.review.set_label(key, cr.cell.cell_id, cr.label)
    path = save_session(session, tmp_path / "accepted.mdsession")
    assert len(load_reviewed([path], SIZE)) == 7  # the same cells as before the bulk accept


def test_changed_image_is_skipped_with_a_reason(reviewed_session, tmp_path: Path) -> None:
    _, path = reviewed_session
    cv2.imwrite(str(tmp_path / "field2.png"), np.zeros((360, 480, 3), np.uint8))
    cells = load_reviewed([path], SIZE)
    assert len(cells) == 4 and len(cells.skipped) == 1 and "field2.png" in cells.skipped[0]  # field 1's mark too


def test_export_folder_gives_the_same_cells_as_the_session(reviewed_session, tmp_path: Path) -> None:
    session, path = reviewed_session
    export_session(session, tmp_path / "export", crops="reviewed", annotate=False)
    from_export = load_reviewed([tmp_path / "export"], SIZE)
    from_session = load_reviewed([path], SIZE)
    # exports skip not-a-cell marks; the session keeps them as negatives
    assert sorted(from_export.labels) == sorted(from_session.labels[from_session.red_cells])
    assert len(set(from_export.slides)) == 1  # one patient pseudonym: one slide
    assert len(set(from_export.fields)) == 2
    both = load_reviewed([tmp_path / "export", path], SIZE)
    assert len(both) == 13 and both.sources == ("export", "slide.mdsession")


def test_nested_class_folders_and_names(tmp_path: Path) -> None:
    crop = np.zeros((20, 20, 3), np.uint8)
    cv2.circle(crop, (10, 10), 8, (150, 100, 200), -1)
    for rel in ("lab/a/Parasitized/C1P1_IMG_1_cell_3.png", "lab/b/deeper/uninfected/C2_07_f_cell12.png",
                "lab/other/ignored.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / rel), crop)
    cells = load_reviewed([tmp_path / "lab"], SIZE)
    assert list(cells.labels) == [1, 0]
    assert cells.fields == ("lab/C1P1_IMG_1", "lab/C2_07_f") and cells.slides == ("lab/C1P1", "lab/C2")
    assert field_of("C123456789_03_field a_cell17.png") == "C123456789_03_field a"
    assert slide_of("C123456789_03_field a_cell17.png") == "C123456789"


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no Parasitized/ or Uninfected/"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "neither a folder"),
    (lambda p: (p / "bad.mdsession").write_text("{") and p / "bad.mdsession", "."),
])
def test_unreadable_inputs_are_clear_errors(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(CalibrationInputError, match=match):
        load_reviewed([make(tmp_path)], SIZE)
