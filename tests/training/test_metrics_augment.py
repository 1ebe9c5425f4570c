"""Metrics against brute force, the validation threshold rule, and augmentation invariants."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from training.augment import augment_batch
from training.metrics import binary_metrics, choose_threshold, expected_calibration_error, per_patient, roc_auc


def test_auc_equals_pairwise_probability() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.4
    p = np.round(rng.random(300) * 0.5 + y * 0.3, 2)  # ties on purpose
    pos, neg = p[y], p[~y]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert abs(roc_auc(y, p) - brute) < 1e-12


def test_binary_metrics_counts() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.05])
    m = binary_metrics(y, p, 0.5)
    assert m["confusion"] == {"tp": 2, "fn": 1, "fp": 1, "tn": 3}
    assert abs(m["accuracy"] - 5 / 7) < 1e-12 and abs(m["sensitivity"] - 2 / 3) < 1e-12
    assert abs(m["specificity"] - 3 / 4) < 1e-12 and abs(m["precision"] - 2 / 3) < 1e-12


def test_threshold_meets_sensitivity_on_validation() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(2000) < 0.5
    p = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    t, rule = choose_threshold(y, p, 0.96)
    assert "sensitivity >= 0.96" in rule
    assert binary_metrics(y, p, t)["sensitivity"] >= 0.96
    t_free, _ = choose_threshold(y, p, 0.0)
    assert binary_metrics(y, p, t_free)["accuracy"] >= binary_metrics(y, p, t)["accuracy"]


def test_ece_small_for_calibrated_and_large_for_overconfident() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(20000)
    y = rng.random(20000) < p
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, (p > 0.5).astype(float)) > 0.2


def test_per_patient_rows() -> None:
    rows = per_patient(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.1, 0.7]), ["C2", "C2", "C10", "C10"], 0.5)
    assert [r["patient"] for r in rows] == ["C2", "C10"]
    assert rows[0]["accuracy"] == 0.5 and rows[1]["predicted_parasitized_pct"] == 50.0


def test_augmentation_keeps_background_black_range_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    crops = np.zeros((8, 32, 32, 3), np.uint8)
    yy, xx = np.mgrid[:32, :32]
    disk = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 < 12 ** 2
    crops[:, disk] = rng.integers(120, 230, (8, 1, 3), dtype=np.uint8)
    a = augment_batch(tf.constant(crops), 5, seed=0).numpy()
    assert a.shape == (8, 32, 32, 3) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    corner = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 > 15 ** 2  # outside any zoomed / rotated disk
    assert np.all(a[:, corner] == 0)
    np.testing.assert_array_equal(a, augment_batch(tf.constant(crops), 5, seed=0).numpy())
    assert not np.array_equal(a, augment_batch(tf.constant(crops), 6, seed=0).numpy())
    assert np.abs(a[:, disk].mean() - crops[:, disk].mean() / 255) < 0.1  # colours jittered, not destroyed
