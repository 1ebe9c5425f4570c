"""Cells shown as another lab's smaller native cells would be: per-cell resampling through a smaller side.

Why (measured, issue 18): the bundled model found 10 % of MP-IDB's parasitized cells whose crop side is
40-55 px at P >= 0.5, but 67-75 % of those over 70 px, and Chula's healthy cells (the negatives of the
cross-lab training) are ~44 px. So "looks like a small, soft, upsampled cell" had become a sign of
"healthy". The per-batch low-resolution augmentation (``training.augment``) resamples half the batches
alike; this stage resamples each cell on its own, at a rate of its own for parasitized cells, so small
native size says nothing about the label. NumPy + OpenCV on 48 px crops (cheap), seeded by (seed, batch).
"""

from __future__ import annotations

import cv2
import numpy as np


class NativeSize:
    """Resample a share of cells (``p``; ``p_parasitized`` for parasitized ones) through a side in
    [``min_side``, input size): area-downsampled, bilinear back up, background kept pure black."""

    def __init__(self, p: float, seed: int, p_parasitized: float | None = None, min_side: int = 20):
        self.p, self.seed, self.min_side = p, seed, min_side
        self.p_pos = p if p_parasitized is None else p_parasitized

    def __call__(self, images: np.ndarray, step: np.int64, labels: np.ndarray | None = None) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(step), 11])
        size = images.shape[1]
        p = np.full(len(images), self.p) if labels is None else np.where(np.ravel(labels) > 0.5, self.p_pos, self.p)
        chosen = np.flatnonzero(rng.random(len(images)) < p)
        if len(chosen) == 0 or self.min_side >= size:
            return images
        sides = rng.integers(self.min_side, size, len(chosen))
        out = images.copy()
        for i, side in zip(chosen, sides, strict=True):
            mask = images[i].max(axis=2) > 0
            small = cv2.resize(images[i], (int(side), int(side)), interpolation=cv2.INTER_AREA)
            back = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
            back[~mask] = 0
            back[mask & (back.max(axis=2) == 0)] = 1  # a cell pixel must not read as background
            out[i] = back
        return out
