"""Classifier runtime: model folder validation (actionable ModelError) and batched inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.errors import ModelError
from tests.helpers.tiny_model import make_tiny_model, reference_probability

PINK = (230, 160, 170)
PURPLE = (110, 50, 140)


def _crops(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Pink discs on black; every other one has a dark purple dot (a 'parasite')."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.45) ** 2
    out = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        colour = np.clip(np.array(PINK) + rng.integers(-20, 20, 3), 0, 255)
        out[i][disc] = colour
        if i % 2:
            y, x = rng.integers(size // 3, 2 * size // 3, 2)
            out[i, y : y + 3, x : x + 3] = PURPLE
    return out


def test_loads_tiny_model_and_reads_card(tiny_model_dir: Path) -> None:
    clf = Classifier.load(tiny_model_dir)
    assert clf.input_size == 32
    assert clf.threshold == 0.5
    assert clf.card.output_kind == "sigmoid"


def test_predict_separates_purple_dots_and_matches_reference(tiny_model_dir: Path) -> None:
    clf = Classifier.load(tiny_model_dir)
    crops = _crops(40)
    p = clf.predict(crops)
    assert p.dtype == np.float32 and p.shape == (40,)
    assert np.all(p[1::2] > 0.9) and np.all(p[0::2] < 0.1)
    np.testing.assert_allclose(p, reference_probability(crops), atol=1e-4)


def test_batching_equals_single_call(tiny_model_dir: Path) -> None:
    clf = Classifier.load(tiny_model_dir)
    crops = _crops(37, seed=3)
    whole = clf.predict(crops, batch_size=256)
    for bs in (1, 5, 36):
        np.testing.assert_allclose(clf.predict(crops, batch_size=bs), whole, atol=1e-6)


def test_empty_batch(tiny_model_dir: Path) -> None:
    assert Classifier.load(tiny_model_dir).predict(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0,)


def test_wrong_crop_shape_is_a_programming_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="32, 32, 3"):
        Classifier.load(tiny_model_dir).predict(np.zeros((2, 64, 64, 3), np.uint8))


def test_softmax_model_gives_parasitized_column(tmp_path: Path) -> None:
    clf = Classifier.load(make_tiny_model(tmp_path, kind="softmax", threshold=0.4))
    crops = _crops(10)
    p = clf.predict(crops)
    assert clf.threshold == 0.4
    np.testing.assert_allclose(p, reference_probability(crops), atol=1e-4)


def test_default_model_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALARIA_DESKTOP_MODEL", str(make_tiny_model(tmp_path / "m")))
    assert Classifier.load().model_dir == tmp_path / "m"


# ---------------------------------------------------------------- every failure is a ModelError


def _message(model_dir: Path) -> str:
    with pytest.raises(ModelError) as info:
        Classifier.load(model_dir)
    return str(info.value)


def test_missing_folder(tmp_path: Path) -> None:
    assert "does not exist" in _message(tmp_path / "nope")


def test_missing_card(tmp_path: Path) -> None:
    make_tiny_model(tmp_path)
    (tmp_path / "model_card.json").unlink()
    assert "model_card.json" in _message(tmp_path)


def test_corrupt_card_json(tmp_path: Path) -> None:
    make_tiny_model(tmp_path)
    (tmp_path / "model_card.json").write_text("{not json", encoding="utf-8")
    assert "cannot be read" in _message(tmp_path)


def test_card_missing_field(tmp_path: Path) -> None:
    make_tiny_model(tmp_path)
    card = json.loads((tmp_path / "model_card.json").read_text())
    del card["threshold"]
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    assert "threshold" in _message(tmp_path)


def test_missing_onnx_file(tmp_path: Path) -> None:
    make_tiny_model(tmp_path)
    (tmp_path / "model.onnx").unlink()
    msg = _message(tmp_path)
    assert "model.onnx" in msg and "--model" in msg


def test_corrupt_onnx(tmp_path: Path) -> None:
    make_tiny_model(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"this is not a protobuf" * 10)
    assert "not a usable ONNX model" in _message(tmp_path)


def test_truncated_onnx(tmp_path: Path) -> None:
    make_tiny_model(tmp_path)
    data = (tmp_path / "model.onnx").read_bytes()
    (tmp_path / "model.onnx").write_bytes(data[: len(data) // 2])
    assert "ONNX" in _message(tmp_path)


def test_input_size_mismatch(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, input_size=32, model_input_size=64)
    msg = _message(tmp_path)
    assert "32x32x3" in msg and "do not belong together" in msg


def test_channel_mismatch(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, channels=1)
    assert "32x32x3" in _message(tmp_path)


def test_output_kind_mismatch(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, kind="softmax")
    card = json.loads((tmp_path / "model_card.json").read_text())
    card["output"]["kind"] = "sigmoid"
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    assert "output shape" in _message(tmp_path)
