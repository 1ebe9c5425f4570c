"""The not-a-cell trainer: a tiny run exports an ONNX model + card that the app's loader accepts and agrees with."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training needs the train extra")

import cv2  # noqa: E402

from malaria_desktop.core.classification.not_a_cell import NotACellModel, context_crop  # noqa: E402
from training.not_a_cell_train import main, pick_threshold  # noqa: E402


def _crops(n: int, dot: bool, rng: np.random.Generator) -> np.ndarray:
    out = []
    for _ in range(n):
        image = np.full((120, 120, 3), 225, np.uint8)
        r = int(rng.integers(3, 6)) if dot else int(rng.integers(17, 23))
        cv2.circle(image, (60, 60), r, (int(rng.integers(120, 200)), 100, 150), -1)
        mask = image[40:81, 40:81, 1] < 200
        out.append(context_crop(image, (40, 40, 41, 41), mask, 40.0))
    return np.stack(out)


def test_a_tiny_run_exports_a_model_the_app_loads(tmp_path):
    rng = np.random.default_rng(0)
    parts, kinds, splits = [], [], []
    for split, n in (("train", 60), ("val", 20), ("test", 20)):
        for kind, dot in (("nih_uninfected", False), ("debris_platelet", True)):
            parts.append(_crops(n, dot, rng))
            kinds += [kind] * n
            splits += [split] * n
    x = np.concatenate(parts)
    y = np.array([k.startswith("debris") for k in kinds], np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=y, kind=np.array(kinds), group=np.array(["g"] * len(y)),
             split=np.array(splits))
    out = tmp_path / "model"
    assert main(["--data", str(tmp_path / "d.npz"), "--run", str(tmp_path / "run"), "--export", str(out),
                 "--epochs", "2", "--max-red-fp", "0.05"]) == 0
    card = json.loads((out / "not_a_cell_card.json").read_text())
    assert card["input_size"] == 32 and 0.5 <= card["threshold"] < 1 and "test" in card["metrics"]
    model = NotACellModel.load(out)
    assert model is not None and model.threshold == card["threshold"]
    p = model.predict(x[np.array(splits) == "test"])
    assert p.shape == (40,) and np.isfinite(p).all()


def test_the_threshold_keeps_red_cells_in():
    p = np.r_[np.linspace(0, 0.6, 200), np.linspace(0.7, 1, 50)]
    red = np.r_[np.ones(200, bool), np.zeros(50, bool)]
    t = pick_threshold(p, red, 0.01)
    assert (p[red] >= t).mean() <= 0.01 and t >= 0.5
    assert pick_threshold(np.full(10, 0.1), np.ones(10, bool), 0.01) == 0.5  # never under 0.5
