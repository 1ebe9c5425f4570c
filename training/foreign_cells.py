"""Red cells of other labs, cut the app's way, as extra *uninfected* training and evaluation examples.

Why: the NIH crops come from one lab (one stain, one camera); a model that only saw them calls every
foreign-looking cell parasitized. Chula RBC-12 and BCCD are healthy smears from two other labs. Their
fields are segmented with the app's own engine and cut with the app's own ``crop_cell`` (tight box, black
outside the cell), then written as PNGs in the NIH layout (``<out>/<lab>/Uninfected/<lab>-<field>_<n>.png``)
so ``python -m training train --data`` reads them like any other folder. A ``patients.csv`` maps every
file to ``<lab>:<field>``: cells of one field stay together when splitting, and a whole lab can be left
out (leave-one-lab-out) by leaving its folder out of ``--data``.

Only cells that are not cut by the border and whose area is typical for the field (0.5-1.8x the median)
are kept: unsplit clumps and fragments are not red cells, and teaching "clump = uninfected" would be wrong.

    python -m training.foreign_cells --out runs/foreign chula=../shared/data/chula_rbc12/images \
        bccd=../shared/data/bccd/images --per-field 12
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.image_io import load_image
from malaria_desktop.core.pipeline import expand_inputs
from malaria_desktop.core.segmentation.engine import segment_cells

MIN_AREA_RATIO, MAX_AREA_RATIO = 0.5, 1.8


def field_cells(image: np.ndarray) -> list[np.ndarray]:
    """Native-resolution masked crops (RGB uint8) of a field's whole, size-typical cells."""
    seg = segment_cells(image)
    inner = [c for c in seg.cells if not c.on_edge and not c.clump]  # clumps are not one red cell
    if not inner:
        return []
    median = float(np.median([c.area_px for c in inner]))
    crops = []
    for cell in inner:
        if not MIN_AREA_RATIO * median <= cell.area_px <= MAX_AREA_RATIO * median:
            continue
        x, y, w, h = cell.bbox
        crops.append(crop_cell(image, cell.bbox, cell.mask, max(w, h)))
    return crops


def harvest_lab(lab: str, images: Path, out: Path, per_field: int, seed: int) -> list[tuple[str, str]]:
    """Write up to ``per_field`` cells of every field of one lab; returns (file name, group) rows."""
    rng = np.random.default_rng(seed)
    folder = out / lab / "Uninfected"
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []
    for path in expand_inputs([images]):
        crops = field_cells(load_image(path))
        keep = sorted(rng.permutation(len(crops))[:per_field]) if len(crops) > per_field else range(len(crops))
        for n in keep:
            name = f"{lab}-{path.stem}_{n:03d}.png"
            cv2.imwrite(str(folder / name), cv2.cvtColor(crops[n], cv2.COLOR_RGB2BGR))
            rows.append((name, f"{lab}:{path.stem}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="+", help="LAB=FOLDER of whole-field images of healthy smears")
    parser.add_argument("--out", type=Path, required=True, help="output root (never inside the repository)")
    parser.add_argument("--per-field", type=int, default=12, help="at most this many cells per field")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows: list[tuple[str, str]] = []
    for spec in args.labs:
        lab, _, folder = spec.partition("=")
        if not folder:
            parser.error(f"{spec!r}: give LAB=FOLDER")
        lab_rows = harvest_lab(lab, Path(folder), args.out, args.per_field, args.seed)
        print(f"{lab}: {len(lab_rows)} cells from {len({g for _, g in lab_rows})} fields", flush=True)
        rows += lab_rows
    with open(args.out / "patients.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "patient"])
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
