"""``malaria-desktop calibrate``: exit codes, messages, and a model folder the rest of the app loads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.cli import main
from malaria_desktop.core.classification.classifier import Classifier
from tests.helpers.calibration_cells import foreign, pretrained_base, synthetic_cells

pytestmark = pytest.mark.slow  # fine-tunes models (calibration): in `make test`, not in `make test-fast`


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    crops, labels, _ = synthetic_cells(range(20))
    return pretrained_base(tmp_path_factory.mktemp("base"), crops, labels)


def write_export(root: Path, crops: np.ndarray, labels: np.ndarray, fields: list[str]) -> Path:
    """Crops in the app's export layout: <root>/crops/{Parasitized,Uninfected}/C<slide>_<field>_cell<i>.png."""
    for i, (crop, label, field) in enumerate(zip(crops, labels, fields, strict=False)):
        folder = root / "crops" / ("Parasitized" if label else "Uninfected")
        folder.mkdir(parents=True, exist_ok=True)
        slide = int(field[5:]) // 2
        cv2.imwrite(str(folder / f"C{slide:09d}_{field}_cell{i}.png"), crop[..., ::-1])
    return root


@pytest.fixture(scope="module")
def lab_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    crops, labels, fields = synthetic_cells(range(200, 210))
    return write_export(tmp_path_factory.mktemp("lab") / "lab export", foreign(crops, seed=3), labels, fields)


@pytest.mark.slow
def test_calibrate_writes_a_model_folder_that_loads(base_dir: Path, lab_export: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site model"
    assert main(["calibrate", str(lab_export), "--out", str(out), "--model", str(base_dir)]) == 0
    captured = capsys.readouterr()
    assert "base model (its own threshold)" in captured.out and "calibrated (out-of-fold)" in captured.out
    assert "reviewed cells" in captured.err
    site = Classifier.load(out)
    card = json.loads((out / "model_card.json").read_text())
    assert card["calibration"]["reviewed"]["sources"] == ["lab export"]
    assert card["calibration"]["cross_validation"]["grouped_by"] == "slide"
    assert site.threshold == card["threshold"]
    # the new folder works wherever a model folder does
    csv = tmp_path / "cells.csv"
    assert main(["classify", str(lab_export), "--csv", str(csv), "--model", str(out)]) == 0
    assert csv.is_file()


def test_one_class_only_is_refused_with_exit_2(base_dir: Path, tmp_path: Path, capsys) -> None:
    crops, labels, fields = synthetic_cells(range(200, 204))
    keep = labels == 0
    lab = write_export(tmp_path / "healthy", crops[keep], labels[keep],
                       [f for f, k in zip(fields, keep, strict=False) if k])
    out = tmp_path / "out"
    assert main(["calibrate", str(lab), "--out", str(out), "--model", str(base_dir)]) == 2
    assert "uninfected" in capsys.readouterr().err and not out.exists()


def test_missing_input_and_broken_base_are_exit_2(base_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["calibrate", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--model", str(base_dir)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "nomodel")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_not_better_is_exit_1_and_writes_nothing(base_dir: Path, tmp_path: Path, capsys) -> None:
    crops, labels, fields = synthetic_cells(range(20))  # the base model's own home cells
    lab = write_export(tmp_path / "home", crops, labels, fields)
    out = tmp_path / "out"
    assert main(["calibrate", str(lab), "--out", str(out), "--model", str(base_dir)]) == 1
    assert "not better" in capsys.readouterr().out and not out.exists()
