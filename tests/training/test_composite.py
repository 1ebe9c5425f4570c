"""Composite infected fields (training/composite.py): cells land where they say, in the field's size and stain."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification.domain_check import crop_colour_stats
from training.composite import PLACES, VARIANTS, cell_mask, compose, prepare_cell
from training.not_a_cell_data import _cut, stained


def _nih_like(seed: int, side: int = 120) -> np.ndarray:
    """An NIH-style crop: a pink disc with a dark dot (the parasite) on pure black."""
    rng = np.random.default_rng(seed)
    crop = np.zeros((side, side, 3), np.uint8)
    cv2.circle(crop, (side // 2, side // 2), side // 2 - 4, (205, 140, 150), -1)
    cv2.circle(crop, (side // 2 + int(rng.integers(-15, 15)), side // 2), 6, (90, 40, 120), -1)
    return crop


def _field(d: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    field = np.full((300, 400, 3), (225, 225, 215), np.uint8)
    cover = np.zeros((300, 400), bool)
    centres = []
    for cx, cy in ((80, 80), (200, 150), (320, 220)):
        cv2.circle(field, (cx, cy), d // 2, (170, 120, 160), -1)
        cv2.circle(cover.view(np.uint8), (cx, cy), d // 2, 1, -1)
        centres.append((cx, cy))
    return field, cover, np.array(centres, float)


def test_prepare_cell_takes_the_field_size_and_stain():
    field, _, _ = _field()
    target = crop_colour_stats(np.stack([cv2.resize(field[60:100, 60:100], (64, 64))]))[0]
    rng = np.random.default_rng(0)
    patch, m = prepare_cell(_nih_like(0), 40.0, target, np.array([25.8, 3.0, 2.1], np.float32), "plain",
                            np.array([225, 225, 215], np.float32), rng)
    eq = 2 * np.sqrt(m.sum() / np.pi)
    assert 0.85 * 40 <= eq <= 1.15 * 40
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB)[m].astype(float)
    assert np.abs(np.median(lab[:, 1:], axis=0) - target[1:3]).max() < 6  # the field's hue, not NIH pink
    big, mb = prepare_cell(_nih_like(0), 40.0, target, np.array([25.8, 3.0, 2.1], np.float32), "enlarged",
                           np.array([225, 225, 215], np.float32), rng)
    assert 2 * np.sqrt(mb.sum() / np.pi) > 1.25 * 40


def test_compose_pastes_every_variant_and_place_where_it_says():
    field, cover, centres = _field()
    target = np.array([150.0, 145.0, 125.0, 20.0, 3.0, 2.0], np.float32)
    crops = [(f"c{k}.png", _nih_like(k)) for k in range(12)]
    image, pasted = compose(field, cover, 40.0, target, np.array([25.8, 3.0, 2.1], np.float32), crops, centres, 1)
    assert len(pasted) >= 10 and image.shape == field.shape and not np.array_equal(image, field)
    assert {p.variant for p in pasted} == set(VARIANTS) and {p.place for p in pasted} <= set(PLACES)
    for p in pasted:
        x, y, w, h = p.bbox
        assert p.mask.shape == (h, w) and p.mask.any()
        assert x <= p.centre[0] <= x + w and y <= p.centre[1] <= y + h
        changed = np.abs(image[y : y + h, x : x + w].astype(int) - field[y : y + h, x : x + w]).sum(axis=2) > 0
        assert changed[p.mask].mean() > 0.9  # the cell is really there
        overlap = cover[y : y + h, x : x + w][p.mask].mean()
        assert overlap <= (0.12 if p.place == "touching" else 0.03) + 1e-9
        if p.place == "edge":
            assert x == 0 or y == 0 or x + w == field.shape[1] or y + h == field.shape[0]


def test_masks_of_nih_crops_boxes_and_cut_cells():
    crop = _nih_like(1)
    crop[:3, :3] = 5  # JPEG-like dark noise in the black background is not the cell
    m = cell_mask(crop)
    assert m[60, 60] and not m[0, 0] and m.sum() == pytest.approx(np.pi * 56**2, rel=0.05)
    box = np.full((50, 50, 3), 230, np.uint8)
    cv2.circle(box, (25, 25), 15, (120, 60, 150), -1)
    s = stained(box)
    assert s[25, 25] and not s[2, 2] and s.sum() == pytest.approx(np.pi * 15**2, rel=0.15)
    cut = _cut(m, np.random.default_rng(2))
    assert 0.35 * m.sum() <= cut.sum() <= 0.92 * m.sum() and not (cut & ~m).any()
