"""Slide estimate benchmark: simulated slides of known parasitemia in foreign stains, does the 95 % interval
cover the truth, and do healthy slides read ``not_seen``?

A simulated slide of ``--cells`` red cells at true parasitemia p: the number of infected cells is
Binomial(cells, p); infected cells are drawn from a pool of parasitized crops, the rest from a pool of
uninfected crops, each with the bundled model's probability computed once; calls at the card threshold
give the apparent count, ``core.report.estimate.estimate_slide`` (rates from the card) the estimate, the
interval and the verdict. Pools per scenario (the model never saw NIH TEST patients):

- ``<lab> rendered``: NIH TEST parasitized and uninfected cells re-rendered in the lab's red-cell colours
  (``training.stain``, as benchmarks/calibrate.py does);
- ``<lab> real``: parasitized as above; uninfected = the lab's own red cells cut by the app's segmentation
  (runs/foreign/<lab>/Uninfected; the model trained on this lab's training fields, its TEST fields only are
  used when the split names them);
- ``mpidb + bccd``: parasitized = MP-IDB P. falciparum crops (a third lab, CHUV, >= 40 px), uninfected =
  BCCD red cells.

    nice -n 10 .venv/bin/python -m benchmarks.slide_estimate [--slides 100] [--cells 2000] [--md]
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np

from benchmarks.common import ROOT
from benchmarks.cross_lab import foreign_cells, lab_test_fields, nih_test  # noqa: E402
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from malaria_desktop.core.report.estimate import estimate_slide, rates_from_card  # noqa: E402
from training.data import decode_crops  # noqa: E402
from training.stain import cell_colour_stats, sample_targets, transfer_colour  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FOREIGN = ROOT / "runs" / "foreign"
MPIDB = DATA / "mpidb_pf_crops"
TRUTHS = (0.0, 0.0005, 0.005, 0.02, 0.10)
OUT = ROOT / "docs" / "benchmarks" / "slide_estimate.md"


def pools(classifier: Classifier) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Scenario -> (probabilities of parasitized crops, probabilities of uninfected crops)."""
    size = classifier.input_size
    labels, crops, _, ref_std = nih_test(size)
    out = {}
    for lab in ("bccd", "chula"):
        real = foreign_cells(FOREIGN, lab, lab_test_fields(ROOT / "trained_model", lab), size)
        stats = cell_colour_stats(foreign_cells(FOREIGN, lab, None, size))
        rendered = transfer_colour(crops, sample_targets(stats, len(crops), seed=1), ref_std)
        probs = classifier.predict(rendered)
        out[f"{lab} rendered"] = (probs[labels == 1], probs[labels == 0])
        out[f"{lab} real"] = (probs[labels == 1], classifier.predict(real))
    with open(MPIDB / "manifest.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if min(int(r["width"]), int(r["height"])) >= 40]
    mp = classifier.predict(decode_crops([MPIDB / r["path"] for r in rows], size))
    out["mpidb + bccd"] = (mp, out["bccd real"][1])
    return out


def simulate(pos: np.ndarray, neg: np.ndarray, truth: float, n_slides: int, cells: int, threshold: float,
             rates, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    covered, results, widths = 0, {"parasites_seen": 0, "not_seen": 0, "indeterminate": 0}, []
    for _ in range(n_slides):
        n_pos = int(rng.binomial(cells, truth))
        calls = int((rng.choice(pos, n_pos) >= threshold).sum() + (rng.choice(neg, cells - n_pos) >= threshold).sum())
        est = estimate_slide(cells, calls, rates)
        covered += est.ci_low_pct <= 100 * truth <= est.ci_high_pct
        results[est.result] += 1
        widths.append(est.ci_high_pct - est.ci_low_pct)
    return {"coverage": covered / n_slides, **results, "median_width_pct": float(np.median(widths))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slides", type=int, default=100, help="simulated slides per scenario and parasitemia")
    ap.add_argument("--cells", type=int, default=2000, help="red cells counted per slide")
    ap.add_argument("--md", action="store_true", help=f"write the table to {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    started = time.monotonic()
    classifier = Classifier.load(ROOT / "trained_model")
    rates = rates_from_card(classifier.card.extra)
    assert rates is not None, "the bundled card has no confusion counts"
    threshold = classifier.threshold
    lines = ["| scenario | sens | FP rate | truth % | coverage | parasites_seen | not_seen | indeterminate | "
             "median CI width % |", "|---|---|---|---|---|---|---|---|---|"]
    for s, (name, (pos, neg)) in enumerate(pools(classifier).items()):
        sens, fpr = float(np.mean(pos >= threshold)), float(np.mean(neg >= threshold))
        for t, truth in enumerate(TRUTHS):
            r = simulate(pos, neg, truth, args.slides, args.cells, threshold, rates, seed=100 * s + t)
            lines.append(f"| {name} | {sens:.3f} | {fpr:.4f} | {100 * truth:g} | {r['coverage']:.2f} | "
                         f"{r['parasites_seen']} | {r['not_seen']} | {r['indeterminate']} | "
                         f"{r['median_width_pct']:.2f} |")
            print(lines[-1], flush=True)
    head = (f"# Slide estimate on simulated slides (foreign stains)\n\nCommand: `.venv/bin/python "
            f"benchmarks/slide_estimate.py --slides {args.slides} --cells {args.cells}` "
            f"({time.monotonic() - started:.0f} s). "
            f"Model: {classifier.card.name}, threshold {threshold:.4f}; rates from the card: sensitivity "
            f"{rates.sensitivity:.3f}, specificity {rates.specificity:.4f}, lab SD {rates.lab_sd_sensitivity} logit. "
            "sens / FP rate = the pools' share called parasitized; coverage = share of slides whose 95 % interval "
            "holds the true parasitemia (target >= 0.90); healthy slides (truth 0) should read not_seen.\n\n")
    if args.md:
        OUT.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
