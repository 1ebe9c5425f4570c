"""Plain-numpy classification metrics (no scikit-learn in this environment): ROC/AUC, threshold rule, ECE."""

from __future__ import annotations

import numpy as np


def roc_curve(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds, highest threshold first (ties merged)."""
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(probs, np.float64), kind="mergesort")
    p, y = np.asarray(probs, np.float64)[order], labels[order]
    last = np.r_[np.nonzero(np.diff(p))[0], len(p) - 1]
    tps, fps = np.cumsum(y)[last], np.cumsum(~y)[last]
    pos, neg = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    return np.r_[0.0, fps / neg], np.r_[0.0, tps / pos], np.r_[np.inf, p[last]]


def roc_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(labels, probs)
    return float(np.trapezoid(tpr, fpr))


def confusion(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, int]:
    labels, pred = np.asarray(labels).astype(bool), np.asarray(probs) >= threshold
    return {"tp": int((pred & labels).sum()), "fn": int((~pred & labels).sum()),
            "fp": int((pred & ~labels).sum()), "tn": int((~pred & ~labels).sum())}


def binary_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float | int | dict]:
    """Accuracy, sensitivity, specificity, precision, F1, AUC, ECE and the confusion matrix at ``threshold``."""
    c = confusion(labels, probs, threshold)
    tp, fn, fp, tn = c["tp"], c["fn"], c["fp"], c["tn"]
    n = max(tp + fn + fp + tn, 1)
    sens = tp / max(tp + fn, 1)
    prec = tp / max(tp + fp, 1)
    return {
        "cells": int(len(labels)), "threshold": float(threshold),
        "accuracy": (tp + tn) / n, "sensitivity": sens, "specificity": tn / max(tn + fp, 1),
        "precision": prec, "f1": 2 * prec * sens / max(prec + sens, 1e-12),
        "roc_auc": roc_auc(labels, probs), "ece": expected_calibration_error(labels, probs),
        "confusion": c,
    }


def choose_threshold(labels: np.ndarray, probs: np.ndarray, min_sensitivity: float = 0.96) -> tuple[float, str]:
    """Best-accuracy threshold whose sensitivity is at least ``min_sensitivity`` (Youden's J if none is).

    Thresholds are midpoints between neighbouring distinct scores, so a tiny score shift on new data
    does not flip the decision of a cell sitting exactly on the threshold.
    """
    labels = np.asarray(labels).astype(bool)
    fpr, tpr, thr = roc_curve(labels, probs)
    pos, neg = labels.sum(), (~labels).sum()
    acc = (tpr * pos + (1 - fpr) * neg) / max(pos + neg, 1)
    finite = np.isfinite(thr)
    ok = finite & (tpr >= min_sensitivity)
    if ok.any():
        i = int(np.flatnonzero(ok)[np.argmax(acc[ok])])
        rule = f"max accuracy with sensitivity >= {min_sensitivity:g} on validation patients"
    else:
        j = np.where(finite, tpr - fpr, -np.inf)
        i = int(np.argmax(j))
        rule = "Youden's J on validation patients (sensitivity target unreachable)"
    lower = thr[i + 1] if i + 1 < len(thr) else thr[i] / 2
    value = float((thr[i] + lower) / 2)
    return float(np.clip(value, 1e-4, 1 - 1e-4)), rule


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> list[dict[str, float]]:
    """Per-bin mean confidence (P(parasitized)) vs observed parasitized fraction."""
    labels, probs = np.asarray(labels, np.float64), np.asarray(probs, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = index == b
        if sel.any():
            out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(sel.sum()),
                        "mean_prob": float(probs[sel].mean()), "fraction_positive": float(labels[sel].mean())})
    return out


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    n = max(len(labels), 1)
    return float(sum(b["count"] / n * abs(b["mean_prob"] - b["fraction_positive"])
                     for b in reliability(labels, probs, bins)))


def per_patient(labels: np.ndarray, probs: np.ndarray, patients: list[str], threshold: float) -> list[dict]:
    """Accuracy and true vs predicted parasitized share per patient (what a slide report would show)."""
    rows = []
    patients_arr = np.asarray(patients)
    for p in sorted(set(patients), key=lambda s: (len(s), s)):
        sel = patients_arr == p
        y, pred = np.asarray(labels)[sel].astype(bool), np.asarray(probs)[sel] >= threshold
        rows.append({"patient": p, "cells": int(sel.sum()), "accuracy": float((y == pred).mean()),
                     "true_parasitized_pct": float(100 * y.mean()),
                     "predicted_parasitized_pct": float(100 * pred.mean())})
    return rows
