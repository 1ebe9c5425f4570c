"""Calibration judged by the count: per-fold parasitemia against the reviewed truth, a threshold chosen for
the count, and what the calibrated card needs to be read like any other (uncertain band, error rates).

Why: a patient gets the slide's parasitemia, not a cell-level AUC. At 1.4 % parasitemia every point of
specificity adds 70 % to the count, so a calibration that looks better by balanced accuracy can triple
the figure. Here each held-out fold's parasitemia (cells called parasitized / regions the app counts) is
compared with the truth (parasitized / red cells reviewed; *not a cell* marks are regions, never red
cells); the threshold minimises the mean absolute count error over the folds among thresholds that keep
the out-of-fold sensitivity at the floor; "better" means a smaller count error without losing sensitivity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from malaria_desktop.core.classification.domain_check import FEATURES, REFERENCE_VERSION
from malaria_desktop.core.report.estimate import LAB_SD_SENSITIVITY, LAB_SD_SPECIFICITY

MAX_CANDIDATES = 2000  # thresholds tried (quantiles of the out-of-fold probabilities)
BAND_ERROR_SHARE = 0.6  # as the bundled card: the band holds 60 % of the errors at the threshold
RELIABLE_FIELDS, RELIABLE_CELLS = 10, 500  # below: the figures are reported as unreliable


@dataclass(frozen=True)
class FoldCount:
    """One held-out fold: its truth and the parasitemia each model gives it (percent)."""

    fold: int
    regions: int  # what the app counts (red cells + regions marked not a cell)
    red_cells: int
    truth_pct: float
    base_pct: float
    calibrated_pct: float

    def as_dict(self) -> dict[str, Any]:
        return {"fold": self.fold, "regions": self.regions, "red_cells": self.red_cells,
                "truth_pct": round(self.truth_pct, 3), "base_pct": round(self.base_pct, 3),
                "calibrated_pct": round(self.calibrated_pct, 3)}


def fold_truth(labels: np.ndarray, folds: np.ndarray, red: np.ndarray, k: int) -> tuple[int, int, float]:
    """(regions, red cells, true parasitemia %) of fold ``k``."""
    sel = folds == k
    n_red = int((sel & red).sum())
    return int(sel.sum()), n_red, 100.0 * float(labels[sel & red].sum()) / max(n_red, 1)


def count_error(probs: np.ndarray, labels: np.ndarray, folds: np.ndarray, red: np.ndarray,
                threshold: float) -> float:
    """Mean over folds of |parasitemia the model gives - truth|, in percentage points."""
    errors = []
    for k in np.unique(folds):
        regions, _, truth = fold_truth(labels, folds, red, int(k))
        called = float((probs[folds == k] >= threshold).sum())
        errors.append(abs(100.0 * called / max(regions, 1) - truth))
    return float(np.mean(errors))


def count_threshold(probs: np.ndarray, labels: np.ndarray, folds: np.ndarray, red: np.ndarray,
                    min_sensitivity: float) -> float:
    """The threshold with the smallest count error among those with out-of-fold sensitivity >= the floor.

    Ties go to the higher threshold (fewer false calls). Without any threshold reaching the floor, the
    highest threshold that keeps the most sensitivity is returned (the caller reports the figures).
    """
    pos = np.sort(probs[labels == 1])
    candidates = np.unique(np.quantile(probs, np.linspace(0, 1, MAX_CANDIDATES)))
    candidates = np.unique(np.concatenate([candidates, pos]))  # every positive is a possible edge
    sens = 1.0 - np.searchsorted(pos, candidates, side="left") / max(len(pos), 1)
    ok = sens >= min_sensitivity - 1e-12
    if not ok.any():
        return float(pos[0]) if len(pos) else 0.5
    error = np.zeros(len(candidates))
    for k in np.unique(folds):
        regions, _, truth = fold_truth(labels, folds, red, int(k))
        fold_sorted = np.sort(probs[folds == k])
        called = len(fold_sorted) - np.searchsorted(fold_sorted, candidates, side="left")
        error += np.abs(100.0 * called / max(regions, 1) - truth)
    error = np.where(ok, error, np.inf)
    best = np.flatnonzero(error <= error.min() + 1e-12)
    return float(candidates[best[-1]])


def fold_counts(base: np.ndarray, base_threshold: float, oof: np.ndarray, threshold: float, labels: np.ndarray,
                folds: np.ndarray, red: np.ndarray) -> list[FoldCount]:
    out = []
    for k in np.unique(folds):
        sel = folds == k
        regions, n_red, truth = fold_truth(labels, folds, red, int(k))
        out.append(FoldCount(int(k), regions, n_red, truth, 100.0 * float((base[sel] >= base_threshold).sum()) /
                             max(regions, 1), 100.0 * float((oof[sel] >= threshold).sum()) / max(regions, 1)))
    return out


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def uncertain_band(labels: np.ndarray, probs: np.ndarray, threshold: float,
                   share: float = BAND_ERROR_SHARE) -> dict[str, Any]:
    """The log-odds interval around ``threshold`` holding ``share`` of the out-of-fold errors (the bundled
    card's rule, ``training.operating_point.uncertain_band``, applied to the lab's own cells)."""
    labels, probs = np.asarray(labels).astype(bool), np.asarray(probs, np.float64)
    wrong = labels != (probs >= threshold)
    centre = float(_logit(threshold))
    width = float(np.quantile(np.abs(_logit(probs[wrong]) - centre), share, method="higher")) + 1e-6 \
        if wrong.any() else 1.0
    low, high = 1 / (1 + np.exp(-(centre - width))), 1 / (1 + np.exp(-(centre + width)))
    inside = (probs >= low) & (probs <= high)
    return {"low": float(low), "high": float(high),
            "errors_inside": float(inside[wrong].mean()) if wrong.any() else 1.0,
            "cells_inside": float(inside.mean()),
            "rule": f"holds {share:.0%} of the out-of-fold errors on the lab's reviewed cells (log-odds interval "
                    f"centred on the threshold); {inside.mean():.1%} of those cells fall inside"}


def error_rates(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """Out-of-fold confusion counts at the threshold, for the slide estimate (``core.report.estimate``)."""
    called, truth = probs >= threshold, labels == 1
    return {"tp": int((called & truth).sum()), "fn": int((~called & truth).sum()),
            "fp": int((called & ~truth).sum()), "tn": int((~called & ~truth).sum()),
            # the lab's own rates, measured on a few of its slides; the shift the estimate allows stays the default
            # one (slides drift, and the model may read another lab's slides): wider intervals, never narrower
            "lab_sd_sensitivity": LAB_SD_SENSITIVITY, "lab_sd_specificity": LAB_SD_SPECIFICITY,
            "source": "calibration: out-of-fold predictions on the lab's reviewed cells (not-a-cell marks as "
                      "negatives)"}


def lab_entry(crops: np.ndarray, labels: np.ndarray, fields: tuple[str, ...], probs: np.ndarray,
              band: tuple[float, float]) -> dict[str, Any] | None:
    """The lab's own ``reference`` entry from its uninfected reviewed cells (None: fewer than 10 fields)."""
    from malaria_desktop.core.classification.domain_check import crop_colour_stats
    from malaria_desktop.core.classification.lab_reference import MARGIN, lab_reference

    use = labels == 0
    if not use.any():
        return None
    return lab_reference(crop_colour_stats(crops[use]), np.asarray(fields, dtype=str)[use], None, probs[use],
                         band, 5, MARGIN)


def reference_with_lab(base_reference: Any, entry: dict[str, Any] | None, band: dict[str, Any],
                       name: str = "this lab (calibration)") -> dict[str, Any] | None:
    """The base card's reference (colour and size of its training labs; limits measured with the base
    model dropped) plus the lab's own entry, with the calibrated band."""
    if not isinstance(base_reference, dict) and entry is None:
        return None
    ref: dict[str, Any] = dict(base_reference) if isinstance(base_reference, dict) else {
        "version": REFERENCE_VERSION, "features": list(FEATURES), "labs": {}}
    old_labs = ref.get("labs")
    labs = {k: {**v, "uncertain_share_limit": None, "response_limit": None}
            for k, v in (old_labs.items() if isinstance(old_labs, dict) else ()) if isinstance(v, dict)}
    if entry is not None:
        labs[name] = entry
    ref["labs"] = labs
    ref["uncertain_band"] = [round(band["low"], 6), round(band["high"], 6)]
    return ref if labs else None


def card_parts(base_reference: Any, crops: np.ndarray, labels: np.ndarray, fields: tuple[str, ...],
               probs: np.ndarray, threshold: float, counts: list[FoldCount],
               errors: tuple[float, float]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(top-level card keys, ``calibration.cross_validation.count``) of a calibrated card: its uncertain
    band, its lab's reference beside the training labs', its error rates, and the per-fold counts."""
    band = uncertain_band(labels, probs, threshold)
    top: dict[str, Any] = {"uncertain_band": band, "error_rates": error_rates(probs, labels, threshold)}
    reference = reference_with_lab(base_reference, lab_entry(crops, labels, fields, probs,
                                                             (band["low"], band["high"])), band)
    if reference is not None:
        top["reference"] = reference
    n_fields = len(set(fields))
    reliable = n_fields >= RELIABLE_FIELDS and len(labels) >= RELIABLE_CELLS
    count = {"folds": [c.as_dict() for c in counts], "base_error_pct_points": round(errors[0], 3),
             "calibrated_error_pct_points": round(errors[1], 3),
             "rule": "threshold: smallest mean |fold parasitemia - truth| among thresholds with out-of-fold "
                     "sensitivity >= the floor; better: smaller count error without losing sensitivity",
             "reliable": reliable,
             "note": "" if reliable else f"only {n_fields} field(s) and {len(labels)} cells: these figures are "
                                         f"unreliable (at least {RELIABLE_FIELDS} fields and {RELIABLE_CELLS} "
                                         "cells are needed)"}
    return top, count
