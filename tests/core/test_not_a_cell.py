"""The not-a-red-cell model's crop, loader and runner (core.classification.not_a_cell)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification.not_a_cell import SPAN, NotACellModel, context_crop
from malaria_desktop.core.errors import ModelError
from tests.helpers.tiny_not_a_cell import write_tiny_not_a_cell


def _disc_field(d: int, centre: tuple[int, int] = (100, 100)) -> tuple[np.ndarray, tuple, np.ndarray]:
    image = np.full((200, 200, 3), 230, np.uint8)
    cv2.circle(image, centre, d // 2, (200, 120, 140), -1)
    x, y = centre[0] - d // 2 - 1, centre[1] - d // 2 - 1
    bbox = (x, y, d + 3, d + 3)
    mask = np.zeros((d + 3, d + 3), bool)
    mask[image[y : y + d + 3, x : x + d + 3, 1] < 200] = True
    return image, bbox, mask


def test_context_crop_shows_size_relative_to_the_field_and_blacks_out_the_rest():
    image, bbox, mask = _disc_field(40)
    crop = context_crop(image, bbox, mask, diameter=40, size=32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    share = float((crop.max(axis=2) > 0).mean())
    assert share == pytest.approx(np.pi / (4 * SPAN**2), rel=0.2)  # a typical cell fills ~0.2 of the square
    assert crop[0, 0].max() == 0 and crop[16, 16].tolist() == [200, 120, 140]  # centred, glass black
    dot = context_crop(*_disc_field(10), diameter=40, size=32)
    assert (dot.max(axis=2) > 0).mean() < 0.03  # a platelet-sized dot is small in the same square


def test_context_crop_of_an_nih_style_crop_and_at_the_image_border():
    crop = np.zeros((50, 50, 3), np.uint8)
    cv2.circle(crop, (25, 25), 20, (180, 100, 120), -1)
    out = context_crop(crop, (0, 0, 50, 50), None, diameter=40, size=32)
    assert (out.max(axis=2) > 0).mean() == pytest.approx(np.pi / (4 * SPAN**2), rel=0.25)
    image = np.full((200, 200, 3), 230, np.uint8)
    cv2.circle(image, (10, 100), 20, (200, 120, 140), -1)  # cut by the left border
    mask = image[78:123, 0:32, 1] < 200
    out = context_crop(image, (0, 78, 32, 45), mask, diameter=40, size=32)
    assert 0.05 < (out.max(axis=2) > 0).mean() < np.pi / (4 * SPAN**2)


def test_a_folder_without_the_model_has_no_verdict(tmp_path):
    assert NotACellModel.load(tmp_path) is None


def test_the_tiny_model_calls_dots_not_cells_and_discs_cells(tmp_path):
    model = NotACellModel.load(write_tiny_not_a_cell(tmp_path))
    assert model is not None and model.input_size == 32 and model.threshold == 0.5
    crops = np.stack([context_crop(*_disc_field(d), diameter=40, size=32) for d in (40, 44, 8, 10)])
    p = model.predict(crops)
    assert p.shape == (4,) and p.dtype == np.float32
    assert (p[:2] < 0.5).all() and (p[2:] > 0.5).all()
    assert model.predict(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0,)


def test_a_broken_card_or_graph_says_what_to_do(tmp_path):
    write_tiny_not_a_cell(tmp_path)
    (tmp_path / "not_a_cell_card.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="not_a_cell"):
        NotACellModel.load(tmp_path)
    write_tiny_not_a_cell(tmp_path)
    (tmp_path / "not_a_cell.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        NotACellModel.load(tmp_path)
    write_tiny_not_a_cell(tmp_path, size=24)
    card = (tmp_path / "not_a_cell_card.json").read_text().replace('"input_size": 24', '"input_size": 32')
    (tmp_path / "not_a_cell_card.json").write_text(card)
    with pytest.raises(ModelError, match="expects input"):
        NotACellModel.load(tmp_path)


def test_a_calibrated_folder_keeps_the_bundled_verdict(tmp_path, monkeypatch):
    import malaria_desktop.paths as paths
    from malaria_desktop.core.classification.not_a_cell import load_for

    bundled = write_tiny_not_a_cell(tmp_path / "bundled")
    monkeypatch.setattr(paths, "model_dir_candidates", lambda: [tmp_path / "nowhere", bundled])
    (tmp_path / "lab").mkdir()
    model = load_for(tmp_path / "lab", calibrated=True)
    assert model is not None and model.path == bundled / "not_a_cell.onnx"
    assert load_for(tmp_path / "lab", calibrated=False) is None  # any other folder: its own or none
    own = load_for(write_tiny_not_a_cell(tmp_path / "own"), calibrated=True)
    assert own is not None and own.path.parent == tmp_path / "own"
