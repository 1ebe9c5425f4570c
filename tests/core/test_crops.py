"""crop_cell's fast OpenCV path must give exactly the pixels of its plain-numpy definition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.synthetic import generate_smear


def reference_crop(image, bbox, mask, size):
    """The definition: tight box of the cell pixels, black outside the mask, INTER_AREA/LINEAR resize."""
    x, y, w, h = bbox
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, image.shape[1]), min(y + h, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        raise ValueError("outside")
    patch = image[y0:y1, x0:x1]
    cell = patch.max(axis=2) > 0 if mask is None else mask[y0 - y : y1 - y, x0 - x : x1 - x].astype(bool)
    ys, xs = np.nonzero(cell)
    if ys.size == 0:
        return np.zeros((size, size, 3), np.uint8)
    sl = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    tight = np.where(cell[sl][..., None], patch[sl], 0).astype(np.uint8)
    interp = cv2.INTER_AREA if max(tight.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(tight, (size, size), interpolation=interp)


def test_fast_path_equals_definition() -> None:
    image = generate_smear(seed=3, width=400, height=300).image
    rng = np.random.default_rng(0)
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(1, 90, 2))
        x, y = int(rng.integers(-30, 380)), int(rng.integers(-30, 280))
        mask = rng.random((h, w)) < rng.random()
        if rng.random() < 0.3:
            mask = mask.astype(np.uint8) * 255
        for size in (32, 64):
            try:
                want = reference_crop(image, (x, y, w, h), mask, size)
            except ValueError:
                continue
            np.testing.assert_array_equal(crop_cell(image, (x, y, w, h), mask, size), want)


def test_nih_style_crop_without_mask() -> None:
    image = np.zeros((50, 40, 3), np.uint8)
    image[6:44, 4:30] = (200, 120, 150)
    image[10, 31] = (0, 0, 1)  # one barely-not-black pixel still belongs to the cell
    got = crop_cell(image, (0, 0, 40, 50), None, 64)
    np.testing.assert_array_equal(got, reference_crop(image, (0, 0, 40, 50), None, 64))
    assert crop_cell(np.zeros((9, 9, 3), np.uint8), (0, 0, 9, 9), None, 16).max() == 0


def test_bbox_outside_image_rejected() -> None:
    with pytest.raises(ValueError):
        crop_cell(np.zeros((10, 10, 3), np.uint8), (20, 20, 5, 5), None, 8)
