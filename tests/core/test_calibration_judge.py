"""Calibration judged by the count: the threshold for the count with a sensitivity floor, fold counts."""

from __future__ import annotations

import numpy as np
import pytest

from malaria_desktop.core.calibration.judge import (
    count_error,
    count_threshold,
    error_rates,
    fold_counts,
    reference_with_lab,
    uncertain_band,
)


def lab(seed: int = 0, n: int = 3000, prevalence: float = 0.015):
    """A low-parasitemia lab: specificity matters more than anything for the count."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(np.int64)
    probs = np.where(labels == 1, rng.beta(8, 2, n), rng.beta(1, 12, n)).astype(np.float32)
    folds = rng.integers(0, 3, n)
    return probs, labels, folds, np.ones(n, bool)


def test_count_threshold_is_closer_to_the_truth_than_a_sensitivity_only_rule() -> None:
    probs, labels, folds, red = lab()
    from malaria_desktop.core.calibration.train import choose_threshold

    by_sensitivity = choose_threshold(probs, labels, 0.92)
    by_count = count_threshold(probs, labels, folds, red, 0.80)
    assert count_error(probs, labels, folds, red, by_count) <= count_error(probs, labels, folds, red, by_sensitivity)
    assert np.mean(probs[labels == 1] >= by_count) >= 0.80  # the floor holds


def test_the_floor_wins_over_the_count() -> None:
    probs, labels, folds, red = lab(1)
    loose = count_threshold(probs, labels, folds, red, 0.5)
    strict = count_threshold(probs, labels, folds, red, 0.99)
    assert strict <= loose and np.mean(probs[labels == 1] >= strict) >= 0.99


def test_not_a_cell_regions_count_in_the_app_figure_not_in_the_truth() -> None:
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    red = np.array([True] * 8 + [False] * 2)  # two regions the technician marked not a cell
    folds = np.zeros(10, int)
    probs = np.array([0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.95, 0.2])  # one debris called parasitized
    [fold] = fold_counts(probs, 0.5, probs, 0.5, labels, folds, red)
    assert fold.truth_pct == pytest.approx(100 / 8) and fold.calibrated_pct == pytest.approx(100 * 2 / 10)
    rates = error_rates(probs, labels, 0.5)
    assert (rates["tp"], rates["fn"], rates["fp"], rates["tn"]) == (1, 0, 1, 8)


def test_band_and_reference() -> None:
    probs, labels, _, _ = lab(2)
    band = uncertain_band(labels, probs, 0.5)
    assert band["low"] < 0.5 < band["high"] and 0 < band["errors_inside"] <= 1
    entry = {"colour_median": [1] * 6, "colour_covariance": np.eye(6).tolist(), "colour_limit": 3.0}
    ref = reference_with_lab({"version": 1, "features": [], "labs": {"nih": {"response_limit": 0.3}}}, entry, band)
    assert ref["labs"]["nih"]["response_limit"] is None  # measured with the base model: dropped
    assert ref["labs"]["this lab (calibration)"] == entry and ref["uncertain_band"][0] == pytest.approx(band["low"])
