"""`analyze` end to end: implausible inputs say so in images.csv and slide.csv (issue 13 item 11)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.cli import main
from malaria_desktop.core.synthetic import generate_smear


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_grey_noise_and_blank_fields_are_flagged_in_the_reports(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fields"
    folder.mkdir()
    rng = np.random.default_rng(0)
    smear = generate_smear(4, 640, 480).image
    images = {
        "grey.png": cv2.cvtColor(cv2.cvtColor(smear, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB),
        "noise.png": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "blank.png": np.full((480, 640, 3), (235, 205, 215), np.uint8),
    }
    for name, image in images.items():
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "report"
    assert main(["analyze", str(folder), "--out", str(out), "--model", str(tiny_model_dir)]) == 0
    rows = {Path(r["image"]).name: r for r in read_csv(out / "images.csv")}
    assert "greyscale:" in rows["grey.png"]["flags"] and int(rows["grey.png"]["n_cells"]) > 0
    assert "random_noise:" in rows["noise.png"]["flags"] and rows["noise.png"]["n_cells"] == "0"
    assert "no_cells_found" in rows["blank.png"]["flags"]
    slide = read_csv(out / "slide.csv")[0]
    counts = dict(item.split("=") for item in slide["image_warnings"].split(";"))
    assert counts["greyscale"] == "1" and counts["random_noise"] == "1" and counts["no_cells_found"] == "2"
    assert "implausible_images" in slide["flags"].split(";")
    assert int(slide["rbc_counted"]) == int(rows["grey.png"]["n_cells"])  # noise contributes no cells
