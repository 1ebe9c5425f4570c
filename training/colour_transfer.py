"""Stain colour transfer as a training augmentation: cells re-rendered in the colours of the training labs.

Why: colour jitter alone does not reach other labs' stains, and other labs' *healthy* cells alone teach
"foreign stain = healthy" (measured: sensitivity on foreign-stained parasitized cells fell to 0.61). Here
every cell, parasitized or not, is re-rendered with probability ``p`` in the colour statistics of a healthy
cell drawn from a training lab (labs = data roots, drawn uniformly so a small lab counts as much as NIH),
so colour carries no label information and parasites are seen in every training lab's stain.
The transfer keeps each cell's relative contrast (``training.stain.transfer_colour`` with its lab's typical
std), so a parasite's dark chromatin is not flattened. Seeded by (seed, batch), like ``augment_batch``.
"""

from __future__ import annotations

import numpy as np

from training.stain import cell_colour_stats, transfer_colour


class ColourTransfer:
    """Per-root healthy-cell colour statistics, and the batch function that applies them."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, roots: np.ndarray, p: float, seed: int):
        self.p, self.seed = p, seed
        stats = cell_colour_stats(crops)
        finite = np.all(np.isfinite(stats), axis=1)
        self.targets: list[np.ndarray] = []
        self.ref_std = np.zeros((int(roots.max()) + 1, 3), np.float32)
        for root in range(int(roots.max()) + 1):
            healthy = stats[finite & (roots == root) & (labels == 0)]
            if len(healthy) == 0:  # a root of parasitized cells only: use every cell's statistics
                healthy = stats[finite & (roots == root)]
            if len(healthy):
                self.targets.append(healthy)
                self.ref_std[root] = np.median(healthy[:, 3:], axis=0)

    def __call__(self, images: np.ndarray, roots: np.ndarray, step: np.int64) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(step), 7])
        chosen = np.flatnonzero(rng.random(len(images)) < self.p)
        if len(chosen) == 0 or not self.targets:
            return images
        lab = rng.integers(0, len(self.targets), len(chosen))
        targets = np.stack([self.targets[k][rng.integers(0, len(self.targets[k]))] for k in lab])
        out = images.copy()
        out[chosen] = transfer_colour(images[chosen], targets, self.ref_std[roots[chosen]])
        return out
