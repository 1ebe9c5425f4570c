"""Cross-lab training pieces: colour transfer, the cross-lab augmentation, the slide operating point,
and the harvesting of other labs' cells — on generated cells only."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from malaria_desktop.core.synthetic import generate_smear
from training.augment import CROSS_LAB, augment_batch
from training.colour_transfer import ColourTransfer
from training.foreign_cells import field_cells
from training.operating_point import healthy_groups, slide_threshold, uncertain_band
from training.stain import cell_colour_stats, sample_targets, transfer_colour


def _cells(n: int, colour: tuple[int, int, int], parasite: bool, seed: int = 0) -> np.ndarray:
    """48 px generated crops: a disc of ``colour`` on black, a dark purple dot when ``parasite``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48]
    out = np.zeros((n, 48, 48, 3), np.uint8)
    for i in range(n):
        disc = (yy - 24) ** 2 + (xx - 24) ** 2 < 20**2
        out[i][disc] = np.clip(np.array(colour) + rng.integers(-6, 7, (disc.sum(), 3)), 1, 255)
        if parasite:
            out[i][(yy - 20) ** 2 + (xx - 27) ** 2 < 16] = (120, 30, 110)
    return out


def test_transfer_moves_colour_keeps_background_and_parasite_contrast() -> None:
    pink, grey = _cells(4, (230, 160, 170), False), _cells(4, (150, 150, 175), False, seed=1)
    infected = _cells(4, (230, 160, 170), True, seed=2)
    target = cell_colour_stats(grey)
    source_std = np.median(cell_colour_stats(pink)[:, 3:], axis=0)
    moved = transfer_colour(pink, target, source_std)
    assert np.all(moved[pink.max(axis=3) == 0] == 0)  # background stays pure black
    assert np.allclose(cell_colour_stats(moved)[:, :3], target[:, :3], atol=3)
    moved_infected = transfer_colour(infected, target, source_std)
    # the parasite keeps standing out from its cell (classic Reinhard would flatten it to a healthy std)
    ratio_before = cell_colour_stats(infected)[:, 3].mean() / cell_colour_stats(pink)[:, 3].mean()
    ratio_after = cell_colour_stats(moved_infected)[:, 3].mean() / cell_colour_stats(moved)[:, 3].mean()
    assert ratio_after > 0.7 * ratio_before


def test_colour_transfer_is_seeded_and_draws_from_every_lab() -> None:
    crops = np.concatenate([_cells(8, (230, 160, 170), False), _cells(8, (150, 150, 200), False, seed=3)])
    labels, roots = np.zeros(16, int), np.r_[np.zeros(8, int), np.ones(8, int)]
    transfer = ColourTransfer(crops, labels, roots, p=1.0, seed=0)
    a = transfer(crops[:8], roots[:8], np.int64(5))
    assert np.array_equal(a, transfer(crops[:8], roots[:8], np.int64(5)))
    assert not np.array_equal(a, transfer(crops[:8], roots[:8], np.int64(6)))
    moved_blue = cell_colour_stats(a)[:, 2] < cell_colour_stats(crops[:8])[:, 2].mean() - 5  # b* towards blue
    assert moved_blue.any() and not moved_blue.all()  # some cells took lab 1's colours, some lab 0's
    off = ColourTransfer(crops, labels, roots, p=0.0, seed=0)
    assert np.array_equal(off(crops[:8], roots[:8], np.int64(5)), crops[:8])


def test_cross_lab_augmentation_keeps_background_black_and_is_reproducible() -> None:
    crops = tf.constant(_cells(16, (230, 160, 170), True))
    a = augment_batch(crops, tf.constant(3, tf.int64), 0, CROSS_LAB).numpy()
    b = augment_batch(crops, tf.constant(3, tf.int64), 0, CROSS_LAB).numpy()
    assert np.array_equal(a, b) and a.min() >= 0.0 and a.max() <= 1.0
    corners = a[:, :4, :4, :]
    assert np.all(corners == 0)
    assert np.abs(a - crops.numpy() / 255.0).mean() > 0.01  # it changed something


def test_slide_threshold_keeps_every_healthy_group_healthy() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    patients = [f"C{i % 30}" for i in range(n)] + [f"chula:f{i % 50}" for i in range(1000)]
    labels = np.r_[(np.arange(n) % 30 < 15) & (rng.random(n) < 0.5), np.zeros(1000, bool)]
    probs = np.r_[np.clip(rng.normal(0.15 + 0.7 * labels[:n], 0.15), 0, 1),
                  np.clip(rng.normal(0.35, 0.12, 1000), 0, 1)]  # the other lab looks suspicious
    t, rule, shares = slide_threshold(labels, probs, patients, max_healthy_fp=0.005)
    assert set(shares) == {"nih healthy patients", "chula"} and "chula" in rule
    masks = healthy_groups(labels, patients)
    for name, mask in masks.items():
        assert np.mean(probs[mask] >= t) <= 0.005, name
    assert np.mean(probs[~labels] >= t) <= 0.03
    band = uncertain_band(labels, probs, t, 0.8)
    wrong = labels != (probs >= t)
    inside = (probs >= band["low"]) & (probs <= band["high"])
    assert band["low"] < t < band["high"] and inside[wrong].mean() >= 0.8


def test_field_cells_are_whole_typical_cells_cut_the_apps_way() -> None:
    smear = generate_smear(seed=4, width=640, height=480)
    crops = field_cells(smear.image)
    assert len(crops) >= 10
    for crop in crops[:20]:
        assert crop.dtype == np.uint8 and crop.shape[2] == 3
        assert np.all(crop[0, 0] == 0)  # tight box, black outside the cell like NIH crops
    assert np.all(np.isfinite(sample_targets(cell_colour_stats(np.stack([c[:20, :20] for c in crops])), 3, 0)))
