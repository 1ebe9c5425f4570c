"""Calibrate-to-this-lab benchmark: a "foreign lab" proxy made from NIH cells, before and after calibration.

The proxy lab: NIH cells re-rendered (``training.stain``, Reinhard transfer keeping each cell's relative
contrast) in the colour statistics of another lab's red cells, which the app's own engine cuts from that
lab's fields (``segment_cells`` + ``crop_cell``; BCCD by default, Chula RBC-12 with ``--lab chula``).
- "reviewed cells": ``--cells`` cells of NIH VALIDATION patients in the lab's colours (patients = slides);
- judged on: every NIH TEST patient's cell in the lab's colours, and NIH test as it is.
Reported: base vs calibrated AUC / sensitivity / specificity (each at its own card threshold), and the
wall time of ``calibrate`` on ``--time-cells`` cells (2,000 by default). The markdown table goes to
docs/benchmarks/calibrate.md with ``--md``.

    nice -n 10 .venv/bin/python -m benchmarks.calibrate [--cells 400] [--lab bccd] [--md]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from malaria_desktop.core.calibration.calibrate import CalibrationOptions, calibrate, write_model  # noqa: E402
from malaria_desktop.core.calibration.data import ReviewedCells  # noqa: E402
from malaria_desktop.core.calibration.train import auc, figures_at  # noqa: E402
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from malaria_desktop.core.classification.crops import crop_cell  # noqa: E402
from malaria_desktop.core.image_io import load_image  # noqa: E402
from malaria_desktop.core.segmentation.engine import segment_cells  # noqa: E402
from training.data import decode_crops  # noqa: E402
from training.split import read_split  # noqa: E402
from training.stain import cell_colour_stats, sample_targets, transfer_colour  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
NIH = DATA / "nih_cells" / "cell_images"
LABS = {"bccd": DATA / "bccd" / "images", "chula": DATA / "chula_rbc12" / "images"}
OUT = ROOT / "docs" / "benchmarks" / "calibrate.md"


def lab_stats(lab: str, size: int, n_fields: int) -> np.ndarray:
    """Per-cell L*a*b* statistics of the lab's red cells, cut by the app's own segmentation and crop."""
    files = sorted(p for p in LABS[lab].iterdir() if p.suffix.lower() in (".jpg", ".png", ".jpeg", ".tif", ".bmp"))
    crops = []
    for path in files[:: max(1, len(files) // n_fields)][:n_fields]:
        image = load_image(path)
        crops += [crop_cell(image, c.bbox, c.mask, size) for c in segment_cells(image).cells if not c.on_edge]
    return cell_colour_stats(np.stack(crops))


def nih(split: str, size: int):
    samples, names = read_split(ROOT / "trained_model" / "split.csv")
    chosen = [s for s, n in zip(samples, names, strict=False) if n == split and s.root == 0]
    crops = decode_crops([NIH / s.rel for s in chosen], size)
    fields = [Path(s.rel).stem.rsplit("_cell", 1)[0] for s in chosen]
    return crops, np.array([s.label for s in chosen]), [s.patient for s in chosen], fields


def reference_std(size: int) -> np.ndarray:
    """Typical L*a*b* std of an uninfected NIH training cell (keeps parasites' relative contrast)."""
    samples, names = read_split(ROOT / "trained_model" / "split.csv")
    ref = [s for s, n in zip(samples, names, strict=False) if n == "train" and s.root == 0 and s.label == 0][::10]
    return np.nanmedian(cell_colour_stats(decode_crops([NIH / s.rel for s in ref], size))[:, 3:], axis=0)


def subset(n: int, labels: np.ndarray, patients: list[str], seed: int) -> np.ndarray:
    """``n`` cells of whole patients, drawn patient by patient (a lab reviews whole slides)."""
    rng = np.random.default_rng(seed)
    pats = np.array(patients)
    order = rng.permutation(sorted(set(patients)))
    keep = np.zeros(len(labels), bool)
    per = max(1, n // len(order))
    for p in order:  # an equal share of each patient so every slide contributes
        idx = np.flatnonzero(pats == p)
        keep[rng.permutation(idx)[:per]] = True
    extra = rng.permutation(np.flatnonzero(~keep))[: max(0, n - keep.sum())]
    keep[extra] = True
    return np.flatnonzero(keep)[:n] if keep.sum() > n else np.flatnonzero(keep)


def run_calibration(cells: ReviewedCells, options: CalibrationOptions):
    gen = calibrate(cells, ROOT / "trained_model", options)
    t = time.monotonic()
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value, time.monotonic() - t


BASE_NIH_SENSITIVITY = 0.9385  # the bundled model on NIH test patients at its card threshold (model card)


def spec_at_sens(probs: np.ndarray, labels: np.ndarray, sens: float) -> float:
    """Specificity at the highest threshold that still reaches ``sens`` (an operating-point-free view)."""
    pos = np.sort(probs[labels == 1])
    t = pos[int(np.floor(len(pos) * (1 - sens)))]
    return float(np.mean(probs[labels == 0] < t))


def row(name: str, probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    f = figures_at(probs, labels, threshold)
    return {"model": name, "threshold": threshold, "auc": auc(probs, labels), "sens": f.sensitivity,
            "spec": f.specificity,
            "spec_at_base_sens": spec_at_sens(probs, labels, BASE_NIH_SENSITIVITY)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", choices=sorted(LABS), default="bccd")
    ap.add_argument("--cells", type=int, default=400, help="reviewed cells of the proxy lab (validation patients)")
    ap.add_argument("--time-cells", type=int, default=2000, help="cells for the timing run (0: skip)")
    ap.add_argument("--fields", type=int, default=40, help="fields of the lab whose red cells give the colours")
    ap.add_argument("--save", type=Path, help="write the calibrated model folder here")
    ap.add_argument("--md", action="store_true", help=f"write the table to {OUT.relative_to(ROOT)}")
    args = ap.parse_args()

    base = Classifier.load(ROOT / "trained_model")
    size, t0 = base.input_size, base.threshold
    stats = lab_stats(args.lab, size, args.fields)
    ref_std = reference_std(size)
    test_x, test_y, _, _ = nih("test", size)
    val_x, val_y, val_p, val_f = nih("val", size)
    test_lab = transfer_colour(test_x, sample_targets(stats, len(test_x), seed=1), ref_std)
    val_lab = transfer_colour(val_x, sample_targets(stats, len(val_x), seed=2), ref_std)

    idx = subset(args.cells, val_y, val_p, seed=0)
    cells = ReviewedCells(val_lab[idx], val_y[idx], tuple(val_f[i] for i in idx), tuple(val_p[i] for i in idx),
                          (f"nih-val-in-{args.lab}",))
    result, seconds = run_calibration(cells, CalibrationOptions(force=True))
    model_dir = args.save or Path("/tmp/calibrate-benchmark-model")
    write_model(result, model_dir)
    cal = Classifier.load(model_dir)
    rows = [row("base, NIH test as is", base.predict(test_x), test_y, t0),
            row(f"base, NIH test in {args.lab} colours", base.predict(test_lab), test_y, t0),
            row(f"calibrated on {len(idx)} {args.lab}-coloured val cells, NIH test in {args.lab} colours",
                cal.predict(test_lab), test_y, cal.threshold),
            row("calibrated, NIH test as is", cal.predict(test_x), test_y, cal.threshold)]
    timing = {}
    if args.time_cells:
        tidx = subset(args.time_cells, val_y, val_p, seed=1)
        big = ReviewedCells(val_lab[tidx], val_y[tidx], tuple(val_f[i] for i in tidx), tuple(val_p[i] for i in tidx),
                            ("timing",))
        big_result, timing_s = run_calibration(big, CalibrationOptions(force=True))
        timing = {"cells": len(tidx), "seconds": timing_s}
        write_model(big_result, model_dir.with_name(model_dir.name + "-2000"))
        big_model = Classifier.load(model_dir.with_name(model_dir.name + "-2000"))
        rows.append(row(f"calibrated on {len(tidx)} {args.lab}-coloured val cells, NIH test in {args.lab} colours",
                        big_model.predict(test_lab), test_y, big_model.threshold))
        rows.append(row(f"calibrated on {len(tidx)} cells, NIH test as is", big_model.predict(test_x), test_y,
                        big_model.threshold))
    cv = result.card["calibration"]["cross_validation"]
    report = {"lab": args.lab, "reviewed_cells": len(idx), "reviewed_parasitized": int(val_y[idx].sum()),
              "calibrate_seconds": seconds, "rows": rows, "cv": cv, "timing": timing,
              "load": os.getloadavg()[0]}
    print(json.dumps(report, indent=1))
    if args.md:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(markdown(report), encoding="utf-8")
    return 0


def markdown(r: dict) -> str:
    lines = [f"# Calibrate to this lab: proxy benchmark ({r['lab']} colours)", "",
             "Generated by `benchmarks/calibrate.py`; do not edit by hand.", "",
             f"Reviewed cells: {r['reviewed_cells']} NIH validation-patient cells ({r['reviewed_parasitized']} "
             f"parasitized) re-rendered in {r['lab']} red-cell colours; judged on the 19 NIH test patients.", "",
             "| model / cells | threshold | AUC | sensitivity | specificity | specificity at sensitivity "
             f"{BASE_NIH_SENSITIVITY} |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for x in r["rows"]:
        lines.append(f"| {x['model']} | {x['threshold']:.3f} | {x['auc']:.4f} | {x['sens']:.4f} | {x['spec']:.4f} "
                     f"| {x['spec_at_base_sens']:.4f} |")
    cv = r["cv"]
    lines += ["", f"Cross-validation on the reviewed cells ({cv['folds']} folds by {cv['grouped_by']}): "
              f"base {cv['base_at_card_threshold']}, calibrated {cv['calibrated']}.", "",
              f"Calibration of {r['reviewed_cells']} cells: {r['calibrate_seconds']:.0f} s."]
    if r["timing"]:
        lines.append(f"Calibration of {r['timing']['cells']} cells: {r['timing']['seconds']:.0f} s "
                     f"(2 shared cores, 1-min load average {r['load']:.1f} at the end).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
