"""Out-of-lab false positives: the whole app pipeline on Chula RBC-12, a NON-malaria data set.

Chula RBC-12 (Chulalongkorn University) holds 200 thin-smear fields of uninfected patients with normal
and abnormal RBC morphologies, from a different lab, stain and camera than the NIH training cells. Every
cell the app calls parasitized there is a false positive, so the share of parasitized cells is the
parasitemia a healthy patient's slide from such a lab would get. It is printed at the model card's
threshold and a few others, for all cells, for cells not cut by the border, and for size-typical cells
(area within 1.5x of the median; larger detections are mostly unsplit clumps).

    .venv/bin/python -m benchmarks.foreign_lab_false_positives [/path/to/chula_rbc12/images] [--model DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from malaria_desktop.core.pipeline import analyze_images, expand_inputs, iter_results  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "chula_rbc12" / "images"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: trained_model/)")
    args = parser.parse_args()
    classifier = Classifier.load(args.model)
    probs, edge, area = [], [], []
    for result in iter_results(analyze_images(expand_inputs([args.images]), classifier)):
        for c in result.cells:
            probs.append(c.probability)
            edge.append(c.cell.on_edge)
            area.append(c.cell.area_px)
    p, e, a = np.array(probs), np.array(edge), np.array(area, float)
    inner = ~e
    typical = inner & (a <= 1.5 * np.median(a[inner]))
    card_t = classifier.threshold
    print(f"model {classifier.card.name}; cells {p.size} (not cut {inner.sum()}, size-typical {typical.sum()})")
    print("threshold        all     not-cut  size-typical   (share called parasitized = false positives)")
    for t in sorted({card_t, 0.5, 0.8, 0.9}):
        mark = " (card)" if t == card_t else ""
        print(f"{t:.3f}{mark:7s} {np.mean(p[:] >= t):8.2%} {np.mean(p[inner] >= t):9.2%} "
              f"{np.mean(p[typical] >= t):11.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
