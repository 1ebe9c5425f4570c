"""The not-a-cell verdict through the engine: labels, counts, warnings, sessions; and the uncovered-blood measure."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.pipeline import analyze_image
from malaria_desktop.core.results import NOT_CELL, PARASITIZED, counted
from malaria_desktop.core.review.session_schema import decode_result, encode_result
from malaria_desktop.core.review.state import apply_threshold
from malaria_desktop.core.segmentation.coverage import WARN_SHARE, uncovered, warning
from malaria_desktop.core.synthetic import generate_smear
from tests.helpers.tiny_model import make_tiny_model
from tests.helpers.tiny_not_a_cell import write_tiny_not_a_cell


def _classifier(tmp_path: Path, **kw) -> Classifier:
    folder = make_tiny_model(tmp_path / "model", input_size=32, threshold=0.5)
    write_tiny_not_a_cell(folder, **kw)
    return Classifier.load(folder)


@pytest.fixture(scope="module")
def smear():
    return generate_smear(seed=3, width=640, height=480, cell_diameter=48.0, parasitized_fraction=0.3)


def test_a_folder_without_the_model_runs_as_before(tmp_path, smear):
    plain = Classifier.load(make_tiny_model(tmp_path / "plain", input_size=32, threshold=0.5))
    assert plain.not_a_cell is None
    result = analyze_image(smear.image, plain)
    assert result.n_cells > 20 and all(math.isnan(c.not_cell_probability) for c in result.cells)
    assert all(c.label != NOT_CELL for c in result.cells)


def test_everything_not_a_cell_counts_nothing_and_says_why(tmp_path, smear):
    result = analyze_image(smear.image, _classifier(tmp_path, constant=1.0))
    assert result.cells and all(c.label == NOT_CELL for c in result.cells)
    assert all(c.not_cell_probability > 0.99 for c in result.cells)
    assert result.n_cells == 0 and result.n_parasitized == 0
    assert counted(result, True) == (0, 0)
    assert any(w.startswith("no red cells to count") for w in result.warnings)
    again = apply_threshold(result, 0.01)  # the parasite threshold never turns a non-cell into a cell
    assert all(c.label == NOT_CELL for c in again.cells)


def test_nothing_not_a_cell_gives_the_plain_verdicts(tmp_path, smear):
    result = analyze_image(smear.image, _classifier(tmp_path, constant=0.0))
    plain = analyze_image(smear.image, Classifier.load(tmp_path / "model"))  # same folder: model included
    assert [c.label for c in result.cells] == [c.label for c in plain.cells]
    assert all(c.label != NOT_CELL for c in result.cells) and result.n_parasitized > 0
    assert not any(w.startswith("no red cells to count") for w in result.warnings)


def test_small_regions_are_not_cells_and_leave_the_parasitized_total(tmp_path, smear):
    """The tiny model flags regions small for this field; they stay visible but out of both totals."""
    result = analyze_image(smear.image, _classifier(tmp_path))
    typical = np.pi * (result.cell_diameter_px / 2) ** 2
    for c in result.cells:
        assert (c.label == NOT_CELL) == (c.not_cell_probability >= 0.5)
        if c.cell.area_px > 0.6 * typical and not c.cell.on_edge:
            assert c.label != NOT_CELL
    red = [c for c in result.cells if c.label != NOT_CELL]
    assert result.n_cells == len(red)
    assert result.n_parasitized == sum(c.label == PARASITIZED for c in red)


def test_sessions_keep_the_verdict_its_probability_and_the_uncovered_areas(tmp_path, smear):
    result = analyze_image(smear.image, _classifier(tmp_path, constant=1.0))
    outline = np.array([[10, 10], [60, 10], [60, 50], [10, 50]], np.int32)
    from dataclasses import replace

    result = replace(result, uncovered_share=0.12, uncovered=(outline,))
    back = decode_result(encode_result(result), str(result.path), budget=[10**9])
    assert [c.label for c in back.cells] == [c.label for c in result.cells]
    assert back.cells[0].not_cell_probability == pytest.approx(result.cells[0].not_cell_probability)
    assert back.uncovered_share == pytest.approx(0.12)
    assert np.array_equal(back.uncovered[0], outline)


def test_uncovered_blood_is_measured_outlined_and_warned():
    mask = np.zeros((100, 200), np.uint8)
    labels = np.zeros((100, 200), np.int32)
    for k, cx in enumerate((30, 80, 130, 170), start=1):
        cv2.circle(mask, (cx, 50), 18, 1, -1)
        cv2.circle(labels, (cx, 50), 18, k, -1)
    share, outlines = uncovered(mask, labels, np.array([1, 2, 3, 4]), d=36.0, scale=(2.0, 2.0))
    assert share == 0.0 and outlines == ()
    share, outlines = uncovered(mask, labels, np.array([1, 2, 3]), d=36.0, scale=(2.0, 2.0))  # one not kept
    assert share == pytest.approx(0.25, abs=0.03) and len(outlines) == 1
    assert outlines[0][:, 0].min() >= 2 * (170 - 19) and outlines[0][:, 0].max() <= 2 * (170 + 19)
    tiny = mask.copy()
    cv2.circle(tiny, (100, 90), 4, 1, -1)  # a platelet-sized speck nobody outlines is not a missed cell
    assert uncovered(tiny, labels, np.array([1, 2, 3, 4]), d=36.0, scale=(1.0, 1.0))[0] == 0.0
    assert warning(WARN_SHARE / 2) is None and "25 %" in (warning(0.25) or "")


def test_a_field_with_a_blanked_cell_area_warns_on_the_image(tmp_path, smear):
    """Blood the segmenter cannot accept as cells (one big smear of stain) is reported, not silently lost."""
    image = smear.image.copy()
    cv2.rectangle(image, (200, 150), (420, 330), (150, 90, 140), -1)  # a stained area far bigger than any cell
    result = analyze_image(image, Classifier.load(make_tiny_model(tmp_path / "m", input_size=32, threshold=0.5)))
    assert result.uncovered_share >= WARN_SHARE and result.uncovered
    assert any(w.startswith("cells may be missed here") for w in result.warnings)


def test_images_csv_lists_not_a_cell_regions_and_the_uncovered_share(tmp_path, smear):
    from dataclasses import replace

    from malaria_desktop.core.report.counts import cell_rows, image_row, summarise_image

    result = replace(analyze_image(smear.image, _classifier(tmp_path, constant=1.0)), uncovered_share=0.125)
    summary = summarise_image(result)
    assert summary.n_cells == 0 and summary.n_not_a_cell == len(result.cells)
    assert image_row(summary)[-2:] == [len(result.cells), "12.5"]
    assert {row[10] for row in cell_rows(result)} == {NOT_CELL}  # cells.csv lists them with their verdict


def test_the_bad_input_warning_says_none_or_mostly():
    from malaria_desktop.core.pipeline import _not_cell_warning

    assert _not_cell_warning(0, 3)[0].startswith("no red cells to count: the 3 regions")
    assert _not_cell_warning(2, 5)[0].startswith("mostly not red cells: 5 of the 7 regions")
    assert _not_cell_warning(9, 2) == () and _not_cell_warning(0, 0) == () and _not_cell_warning(40, 45) == ()
