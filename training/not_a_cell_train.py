"""Train, threshold, export and card the "not a red cell" model (``core.classification.not_a_cell``).

Why these choices: a red cell lost from the count costs more than a platelet left in it (a platelet
called parasitized is caught by review; a red cell called not-a-cell silently lowers the denominator),
so the threshold is the lowest that keeps validation red cells (NIH of both classes, Chula, BCCD, and the
engine's regions of NIH cells pasted into fields) called not-a-cell at or under ``--max-red-fp`` (0.5 %).
Colour jitter and flips/rotations keep the model on shape and size (what tells a platelet from a cell),
not on one lab's stain.
The network is the project's VGG at width 0.125 on 32 px, so ``training.onnx_export`` writes its ONNX.

    python -m training.not_a_cell_train --data runs/not_a_cell/data.npz --run runs/not_a_cell \
        --export trained_model [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from malaria_desktop.core.classification.not_a_cell import CARD_FILE, ONNX_FILE, SPAN

SCALE = 1.0 / 255.0
RED = ("nih_parasitized", "nih_uninfected", "chula_rbc", "bccd_rbc")


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flips, quarter turns and per-image colour gain/offset (black background stays black)."""
    x = x.copy()
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip, :, ::-1]
    k = int(rng.integers(4))
    x = np.rot90(x, k, axes=(1, 2))
    mask = x.max(axis=3, keepdims=True) > 0
    gain = rng.uniform(0.75, 1.25, (len(x), 1, 1, 3)) * rng.uniform(0.8, 1.2, (len(x), 1, 1, 1))
    off = rng.uniform(-20, 20, (len(x), 1, 1, 3))
    y = np.clip(x.astype(np.float32) * gain + off, 1, 255)
    return np.where(mask, y, 0).astype(np.float32) * SCALE


def rates(p: np.ndarray, kinds: np.ndarray, threshold: float) -> dict[str, dict[str, float]]:
    """Share called not-a-cell per kind."""
    return {k: {"n": int((kinds == k).sum()), "called_not_a_cell": float((p[kinds == k] >= threshold).mean())}
            for k in sorted(set(kinds.tolist()))}


def pick_threshold(p: np.ndarray, red: np.ndarray, max_red_fp: float) -> float:
    """Lowest threshold with at most ``max_red_fp`` of red cells at or above it (never under 0.5)."""
    q = float(np.quantile(p[red], 1.0 - max_red_fp)) if red.any() else 0.5
    return float(min(max(q + 1e-6, 0.5), 0.999))


def train(args: argparse.Namespace) -> tuple[object, dict]:
    import keras

    from training.model import ModelConfig, build_vgg16

    d = np.load(args.data)
    x, y, split = d["x"], d["y"].astype(np.float32), d["split"]
    tr, va = split == "train", split == "val"
    keras.utils.set_random_seed(args.seed)
    config = ModelConfig(input_size=x.shape[1], width=0.125, batch_norm=True, dropout=0.2, head_units=32)
    model = build_vgg16(config)
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    pos = float(y[tr].mean())
    weights = {0: 0.5 / (1 - pos), 1: 0.5 / pos}
    rng = np.random.default_rng(args.seed)
    xv = x[va].astype(np.float32) * SCALE
    best, history = -1.0, []
    args.run.mkdir(parents=True, exist_ok=True)
    for epoch in range(args.epochs):
        t0 = time.time()
        order = rng.permutation(np.flatnonzero(tr))
        xa = augment(x[order], rng)
        if epoch == int(args.epochs * 0.7):
            model.optimizer.learning_rate.assign(args.lr / 5)
        h = model.fit(xa, y[order], batch_size=128, epochs=1, verbose=0, class_weight=weights,
                      validation_data=(xv, y[va]))
        auc = float(h.history["val_auc"][-1])
        history.append({"epoch": epoch + 1, "loss": float(h.history["loss"][-1]), "val_auc": auc})
        print(f"epoch {epoch + 1} loss {history[-1]['loss']:.4f} val_auc {auc:.4f} {time.time() - t0:.0f}s", flush=True)
        if auc > best:
            best = auc
            model.save(args.run / "best.keras")
    model = keras.models.load_model(args.run / "best.keras")
    return model, {"config": config.to_dict(), "history": history, "best_val_auc": best}


def evaluate(model, args: argparse.Namespace) -> dict:
    d = np.load(args.data)
    x, kind, split = d["x"], d["kind"], d["split"]
    p = model.predict(x.astype(np.float32) * SCALE, batch_size=512, verbose=0)[:, 0]
    va, te = split == "val", split == "test"
    red = np.isin(kind[va], RED) | np.char.startswith(kind[va].astype(str), "composite_")
    threshold = pick_threshold(p[va], red, args.max_red_fp)
    return {"threshold": threshold, "threshold_rule": f"lowest with <= {args.max_red_fp:.2%} of validation red "
            "cells (NIH both classes, Chula, BCCD, engine-cut regions of NIH cells pasted into fields) called "
            "not-a-cell (never under 0.5)",
            "val": rates(p[va], kind[va], threshold), "test": rates(p[te], kind[te], threshold)}


def write_card(out: Path, report: dict, meta: dict, args: argparse.Namespace) -> None:
    import keras
    import onnxruntime

    card = {
        "format_version": 1, "name": "not-a-red-cell", "onnx_file": ONNX_FILE,
        "architecture": "VGG16 topology, width 0.125, batch norm, 32 px (training.model.build_vgg16)",
        "input_size": meta["config"]["input_size"],
        "preprocessing": {"scale": SCALE, "crop": f"core.classification.not_a_cell.context_crop: the region on "
                          f"black in a square of {SPAN} typical cell diameters of its field, resized"},
        "output": "sigmoid (N, 1): P(not a red cell)", "threshold": report["threshold"],
        "threshold_rule": report["threshold_rule"],
        "training": {"command": "python -m training.not_a_cell_train " + " ".join(sys.argv[1:]),
                     "data": ["BCCD (MIT): white-cell and platelet boxes, and red cells in RBC boxes",
                              "Chula RBC-12 (MIT): red cells holding one labelled point; small leftovers far from "
                              "every point", "synthetic debris drawn on those fields' glass "
                              "(training/not_a_cell_data.py)",
                              "NIH/NLM malaria cells (public, NLM): both classes, as red cells"],
                     "split": "trained_model/split.csv (NIH by patient, Chula/BCCD by field)",
                     "epochs": args.epochs, "best_val_auc": meta["best_val_auc"]},
        "metrics": {"val": report["val"], "test": report["test"]},
        "versions": {"keras": keras.__version__, "onnxruntime": onnxruntime.__version__},
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/not_a_cell/data.npz"))
    ap.add_argument("--run", type=Path, default=Path("runs/not_a_cell"))
    ap.add_argument("--export", type=Path, default=None, help="model folder to write the ONNX and card into")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-red-fp", type=float, default=0.005)
    args = ap.parse_args(argv)
    model, meta = train(args)
    report = evaluate(model, args)
    print(json.dumps(report["test"], indent=1))
    print("threshold", report["threshold"])
    (args.run / "report.json").write_text(json.dumps({**report, **meta}, indent=1) + "\n")
    if args.export:
        from training.onnx_export import save_onnx

        save_onnx(model, args.export / ONNX_FILE)
        write_card(args.export, report, meta, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
