"""``python -m training.replay``: a balanced sample of the model's TRAIN cells at its input size."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from tests.helpers.tiny_model import make_tiny_model
from training.replay import main


def test_replay_file_holds_balanced_train_cells(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "model", input_size=32)
    data = tmp_path / "cells"
    rows = []
    for i in range(12):
        label = i % 2
        rel = f"{'Parasitized' if label else 'Uninfected'}/C{i}P1_cell_{i}.png"
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        crop = np.zeros((40, 40, 3), np.uint8)
        cv2.circle(crop, (20, 20), 15, (150, 100, 200), -1)
        cv2.imwrite(str(data / rel), crop)
        rows.append([0, rel, label, f"C{i}", "train" if i < 8 else "test"])
    with open(model / "split.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["root", "file", "label", "patient", "split"], *rows])
    assert main([str(model), "--data", str(data), "--cells", "6"]) == 0
    with np.load(model / "replay.npz") as replay:
        assert replay["crops"].shape == (6, 32, 32, 3) and replay["crops"].dtype == np.uint8
        assert sorted(replay["labels"]) == [0, 0, 0, 1, 1, 1]
