"""Leave-one-lab-out benchmark: how a model folder does on labs it did not learn from, per lab and per slide.

For every model folder given, and every other lab (Chula RBC-12, BCCD; healthy smears), it reports:
- held out?  whether the lab's cells were in the model's training data (from its card and split.csv);
  when they were, only the lab's TEST fields are used;
- healthy cells called parasitized, at the card's threshold: cells the app's own engine cut from the
  lab's fields (``python -m training.foreign_cells``), and with ``--fields`` the whole ``analyze`` pipeline
  on every field of the lab (clumps and slivers included), pooled and for the worst field;
- NIH TEST patients re-rendered in the lab's colour statistics (``training.stain``: Reinhard transfer that
  keeps each cell's relative contrast; parasitized cells in a foreign stain, which no other lab here has):
  AUC, sensitivity and specificity at the card threshold, sensitivity at specificity >= 0.97;
- NIH TEST patients as they are: accuracy, AUC, sensitivity, specificity, and the share of cells called
  parasitized on healthy patients (mean and worst patient).
The markdown table goes to ``docs/benchmarks/cross_lab.md`` (``--md``) so figures are never copied by hand.

    .venv/bin/python -m benchmarks.cross_lab trained_model runs/xlab_lolo_bccd/model ... [--fields]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from training.data import decode_crops  # noqa: E402
from training.metrics import binary_metrics, roc_curve  # noqa: E402
from training.split import read_split  # noqa: E402
from training.stain import cell_colour_stats, sample_targets, transfer_colour  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
NIH = SHARED / "nih_cells" / "cell_images"
LAB_FIELDS = {"chula": SHARED / "chula_rbc12" / "images", "bccd": SHARED / "bccd" / "images"}
SPEC_TARGET = 0.97


def model_labs(model_dir: Path) -> set[str]:
    """Other labs the model learned from (its card lists training folders; their names carry the lab)."""
    card = json.loads((model_dir / "model_card.json").read_text())
    folders = [d["folder"] if isinstance(d, dict) else d for d in card.get("training", {}).get("data") or []]
    return {lab for lab in LAB_FIELDS for f in folders if Path(f).name == lab}


def lab_test_fields(model_dir: Path, lab: str) -> set[str] | None:
    """The lab's fields in the model's TEST split (None: the lab was not in the model's split at all)."""
    split = model_dir / "split.csv"
    if not split.is_file():
        return None
    samples, names = read_split(split)
    fields = {s.patient.split(":", 1)[1] for s, n in zip(samples, names, strict=False)
              if s.patient.startswith(f"{lab}:")
              and n == "test"}
    return fields if any(s.patient.startswith(f"{lab}:") for s in samples) else None


def sens_at_spec(labels: np.ndarray, probs: np.ndarray, spec: float) -> float:
    fpr, tpr, _ = roc_curve(labels, probs)
    ok = fpr <= 1 - spec
    return float(tpr[ok].max()) if ok.any() else 0.0


@functools.lru_cache(maxsize=2)
def nih_test(size: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """NIH TEST crops of the bundled split (labels, crops, patients) and NIH TRAIN healthy-cell Lab std.

    The same for every model of one input size: decoded once per run of the benchmark.
    """
    samples, names = read_split(ROOT / "trained_model" / "split.csv")
    test = [s for s, n in zip(samples, names, strict=False) if n == "test" and s.root == 0]
    crops = decode_crops([NIH / s.rel for s in test], size)
    ref = [s for s, n in zip(samples, names, strict=False) if n == "train" and s.root == 0 and s.label == 0][::10]
    ref_std = np.nanmedian(cell_colour_stats(decode_crops([NIH / s.rel for s in ref], size))[:, 3:], axis=0)
    return np.array([s.label for s in test]), crops, [s.patient for s in test], ref_std


def foreign_cells(root: Path, lab: str, fields: set[str] | None, size: int) -> np.ndarray:
    paths = sorted((root / lab / "Uninfected").glob("*.png"))
    if fields is not None:
        paths = [p for p in paths if p.stem[len(lab) + 1:].rsplit("_", 1)[0] in fields]
    return decode_crops(paths, size)


def field_rates(classifier: Classifier, lab: str) -> tuple[float, float, int]:
    """Whole pipeline on every field of a lab: pooled share called parasitized, worst field, cells."""
    from malaria_desktop.core.pipeline import analyze_images, expand_inputs, iter_results

    called, total, worst = 0, 0, 0.0
    for result in iter_results(analyze_images(expand_inputs([LAB_FIELDS[lab]]), classifier)):
        p = np.array([c.probability for c in result.cells], float)
        if p.size:
            pos = int((p >= classifier.threshold).sum())
            called, total, worst = called + pos, total + p.size, max(worst, pos / p.size)
    return called / max(total, 1), worst, total


def evaluate(model_dir: Path, foreign_root: Path, with_fields: bool) -> list[dict]:
    classifier = Classifier.load(model_dir)
    size, t = classifier.card.input_size, classifier.threshold
    labels, crops, patients, ref_std = nih_test(size)
    probs = classifier.predict(crops)
    m = binary_metrics(labels, probs, t)
    pats = np.array(patients)
    healthy = [p for p in set(patients) if not labels[pats == p].any()]
    rates = [float(np.mean(probs[pats == p] >= t)) for p in healthy]
    rows = [{"model": model_dir.as_posix(), "lab": "NIH test (as is)", "held_out": "-", "threshold": t,
             "acc": m["accuracy"], "auc": m["roc_auc"], "sens": m["sensitivity"], "spec": m["specificity"],
             "healthy_fp": float(np.mean(rates)) if rates else float("nan"),
             "healthy_fp_worst": max(rates) if rates else float("nan")}]
    trained = model_labs(model_dir)
    for lab in LAB_FIELDS:
        fields = lab_test_fields(model_dir, lab) if lab in trained else None
        cells = foreign_cells(foreign_root, lab, fields, size)
        fp = float(np.mean(classifier.predict(cells) >= t))
        targets = sample_targets(cell_colour_stats(cells), len(crops), seed=1)
        moved = classifier.predict(transfer_colour(crops, targets, ref_std))
        mm = binary_metrics(labels, moved, t)
        row = {"model": model_dir.as_posix(), "lab": lab,
               "held_out": "yes" if lab not in trained else "no (test fields)",
               "threshold": t, "cells_fp": fp, "cells": len(cells), "auc": mm["roc_auc"], "sens": mm["sensitivity"],
               "spec": mm["specificity"], "sens_at_spec": sens_at_spec(labels, moved, SPEC_TARGET)}
        if with_fields:
            row["fields_fp"], row["fields_fp_worst"], row["field_cells"] = field_rates(classifier, lab)
        rows.append(row)
    return rows


def fmt(v: object) -> str:
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.4f}" if v < 1.5 else f"{v:.0f}"
    return str(v)


def markdown(rows: list[dict]) -> str:
    cols = ["model", "lab", "held_out", "threshold", "acc", "auc", "sens", "spec", "sens_at_spec", "healthy_fp",
            "healthy_fp_worst", "cells_fp", "cells", "fields_fp", "fields_fp_worst", "field_cells"]
    cols = [c for c in cols if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="model folders (model.onnx + model_card.json)")
    parser.add_argument("--foreign", type=Path, default=ROOT / "runs" / "foreign",
                        help="cells of other labs cut by `python -m training.foreign_cells`")
    parser.add_argument("--fields", action="store_true", help="also run the whole pipeline on every field")
    parser.add_argument("--md", type=Path, help="write the markdown table here (e.g. docs/benchmarks/cross_lab.md)")
    args = parser.parse_args()
    rows = [r for model in args.models for r in evaluate(model, args.foreign, args.fields)]
    table = markdown(rows)
    print(table)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        legend = (f"Columns: cells_fp = share of the lab's healthy cells called parasitized at the card threshold; "
                  f"fields_fp = the same through the whole `analyze` pipeline on every field (worst field beside "
                  f"it; for a lab the model trained on this includes its training fields, so only held-out rows "
                  f"measure transfer); auc/sens/spec on a lab's row = NIH TEST patients re-rendered in that lab's "
                  f"colours; "
                  f"sens_at_spec = sensitivity at specificity >= {SPEC_TARGET}; healthy_fp = share called "
                  f"parasitized on NIH healthy test patients (mean, worst).\n\n"
                  f"Command: `.venv/bin/python -m benchmarks.cross_lab {' '.join(sys.argv[1:])}`\n\n")
        args.md.write_text("# Cross-lab benchmark (leave one lab out)\n\n" + legend + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
