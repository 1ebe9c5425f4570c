"""training.reference_stats: the model card's ``reference`` from a run's crops (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.classification import domain_check as dc
from malaria_desktop.core.classification.crop_io import read_crop
from training.data import find_samples
from training.reference_stats import field_of, lab_of, reference_for_run


def write_fields(root: Path, patients: int = 12, cells: int = 6, seed: int = 0) -> Path:
    """NIH-layout crops, several cells per source field (``C<p>P<p>thinF_IMG_<f>_cell_<i>.png``)."""
    rng = np.random.default_rng(seed)
    for cls in ("Uninfected", "Parasitized"):
        (root / cls).mkdir(parents=True, exist_ok=True)
    for p in range(1, patients + 1):
        for i in range(cells):
            side = int(rng.integers(90, 110))
            img = np.zeros((side, side, 3), np.uint8)
            colour = (200, 130, 150) + rng.integers(-10, 10, 3)  # BGR: pink
            cv2.circle(img, (side // 2, side // 2), side // 2 - 2, [int(c) for c in colour], -1)
            cv2.imwrite(str(root / "Uninfected" / f"C{p}P{p}thinF_IMG_001_cell_{i}.png"), img)
            cv2.circle(img, (side // 2, side // 2), 8, (90, 30, 140), -1)
            cv2.imwrite(str(root / "Parasitized" / f"C{p}P{p}thinF_IMG_001_cell_{i + 50}.png"), img)
    return root


def test_field_and_lab_ids() -> None:
    assert field_of("Uninfected/C39P4thinF_original_IMG_20150622_105102_cell_94.png", "C39") == \
        "C39P4thinF_original_IMG_20150622_105102"
    assert field_of("chula-12_003.png", "chula:12") == "chula:12"
    assert lab_of("chula:12") == "chula" and lab_of("C39") == "nih"


def test_reference_for_run_makes_a_valid_card_key(tmp_path: Path, tiny_model_dir: Path) -> None:
    root = write_fields(tmp_path / "cells")
    samples = find_samples([root])
    crops = np.stack([read_crop(root / s.rel, 32) for s in samples])
    labels = np.array([s.label for s in samples])
    names = ["val" if int(s.patient[1:]) % 2 else "train" for s in samples]
    data = reference_for_run(samples, names, crops, labels, [root], tiny_model_dir, uncertain_band=(0.2, 0.8))
    nih = data["labs"]["nih"]
    assert nih["fields"] == 12 and nih["cells"] == 72  # uninfected crops only
    assert 90 / 1.25 - 1 <= nih["size_px"][0] <= nih["size_px"][1] <= 110 * 1.25 + 1  # native sizes, widened
    assert nih["response_limit"] is None  # only 6 val fields: fewer than MIN_FIELDS
    ref = dc.parse_reference(data)
    colour = dc.summarise_cells(dc.crop_colour_stats(crops[labels == 0][:6])).colour
    assert dc.judge(dc.FieldStats(20, colour, 100.0), ref) == ()
    assert dc.judge(dc.FieldStats(20, colour, 30.0), ref)  # 3x smaller cells: another magnification
