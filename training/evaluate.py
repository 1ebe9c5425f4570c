"""Measure a model folder on a run's TEST patients: JSON report, PNG plots, and metrics in the model card.

The model is run exactly as the app runs it (``Classifier`` on ``model.onnx``) at the card's threshold,
which export chose on the validation patients; nothing here is tuned on the test patients.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from malaria_desktop.core.classification.model_card import CARD_FILE
from training.export import split_probs
from training.metrics import binary_metrics, per_patient, reliability, roc_curve
from training.operating_point import NIH_GROUP, cell_groups, healthy_groups


def evaluate_model(run: Path, model_dir: Path, report_dir: Path | None = None, split_name: str = "test",
                   update_card: bool = True) -> dict:
    """Write ``report.json`` + ``roc.png``, ``confusion.png``, ``reliability.png``; return the report."""
    run, model_dir = Path(run), Path(model_dir)
    report_dir = Path(report_dir) if report_dir else model_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    card_path = model_dir / CARD_FILE
    card = json.loads(card_path.read_text())
    threshold = float(card["threshold"])
    labels, probs, patients = split_probs(run, model_dir, split_name)
    metrics = binary_metrics(labels, probs, threshold)
    patients_rows = per_patient(labels, probs, patients, threshold)
    accs = np.array([r["accuracy"] for r in patients_rows])
    metrics["patients"] = len(patients_rows)
    metrics["per_patient_accuracy"] = {"mean": float(accs.mean()), "min": float(accs.min()),
                                       "median": float(np.median(accs))}
    by_lab = metrics_by_lab(labels, probs, patients, threshold)
    report = {"split": split_name, "model": card.get("name"), "threshold_rule": card.get("threshold_rule"),
              "metrics": metrics, "by_lab": by_lab, "reliability": reliability(labels, probs),
              "per_patient": patients_rows}
    (report_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot_all(labels, probs, metrics, report["reliability"], report_dir, f"{card.get('name')} — {split_name} patients")
    if update_card:
        card.setdefault("metrics", {})[split_name] = {k: v for k, v in metrics.items()}
        card["metrics"][f"{split_name}_by_lab"] = by_lab
        card_path.write_text(json.dumps(card, indent=2))
    print(f"{split_name}: accuracy {metrics['accuracy']:.4f} sensitivity {metrics['sensitivity']:.4f} "
          f"specificity {metrics['specificity']:.4f} AUC {metrics['roc_auc']:.4f} ECE {metrics['ece']:.4f} "
          f"({metrics['cells']} cells, {metrics['patients']} patients) -> {report_dir}", flush=True)
    return report


def metrics_by_lab(labels: np.ndarray, probs: np.ndarray, patients: list[str], threshold: float) -> dict:
    """Every figure per lab as well as pooled: NIH metrics, and the share called parasitized per healthy group."""
    groups = cell_groups(patients)
    out: dict = {}
    nih = groups == NIH_GROUP
    if nih.any() and labels[nih].any() and not labels[nih].all():
        m = binary_metrics(labels[nih], probs[nih], threshold)
        out[NIH_GROUP] = {k: m[k] for k in ("cells", "accuracy", "sensitivity", "specificity", "roc_auc", "ece")}
    for name, mask in healthy_groups(labels, patients).items():
        out[f"{name}: called parasitized"] = {"cells": int(mask.sum()),
                                              "share": float(np.mean(probs[mask] >= threshold))}
    return out


def plot_all(labels: np.ndarray, probs: np.ndarray, metrics: dict, bins: list[dict], out: Path, title: str) -> None:
    """ROC curve, confusion matrix and reliability diagram as PNGs (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=2, label=f"AUC = {metrics['roc_auc']:.4f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    spec, sens = metrics["specificity"], metrics["sensitivity"]
    ax.plot([1 - spec], [sens], "ro", label=f"threshold {metrics['threshold']:.3f}")
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)",
           title=f"ROC — {title}", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    inset = ax.inset_axes([0.35, 0.3, 0.4, 0.4])
    inset.plot(fpr, tpr, lw=1.5)
    inset.plot([1 - spec], [sens], "ro")
    inset.set(xlim=(0, 0.1), ylim=(0.9, 1.0))
    inset.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=120)
    plt.close(fig)

    c = metrics["confusion"]
    matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black", fontsize=14)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["uninfected", "parasitized"],
           yticklabels=["uninfected", "parasitized"], xlabel="predicted", ylabel="true",
           title=f"Confusion (acc {metrics['accuracy']:.2%})")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    ax.plot([b["mean_prob"] for b in bins], [b["fraction_positive"] for b in bins], "o-", label="model")
    for b in bins:
        ax.annotate(str(b["count"]), (b["mean_prob"], b["fraction_positive"]), fontsize=6,
                    textcoords="offset points", xytext=(3, -8))
    ax.set(xlabel="mean predicted P(parasitized)", ylabel="observed parasitized fraction",
           title=f"Reliability (ECE {metrics['ece']:.4f})", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "reliability.png", dpi=120)
    plt.close(fig)
