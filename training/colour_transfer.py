"""Stain colour transfer as a training augmentation: cells re-rendered in the colours of the training labs.

Why: colour jitter alone does not reach other labs' stains, and other labs' *healthy* cells alone teach
"foreign stain = healthy" (measured: sensitivity on foreign-stained parasitized cells fell to 0.61). Here
every cell, parasitized or not, is re-rendered with probability ``p`` in the colour statistics of a healthy
cell drawn from a training lab (labs = data roots, drawn uniformly so a small lab counts as much as NIH),
so colour carries no label information and parasites are seen in every training lab's stain.
The transfer keeps each cell's relative contrast (``training.stain.transfer_colour`` with its lab's typical
std), so a parasite's dark chromatin is not flattened. Seeded by (seed, batch), like ``augment_batch``.

Parasitized cells can be re-rendered more often (``p_parasitized``) and into stains *between and beyond*
the training labs (``spread``: the target is a + u (b - a) for two healthy cells a, b of any training labs,
u ~ U(-spread, 1 + spread)), because a lab never seen has its own stain and its parasites must still read
as parasites: the positives, not only the negatives, must cover foreign colours (issue 18).
"""

from __future__ import annotations

import numpy as np

from training.stain import cell_colour_stats, transfer_colour


class ColourTransfer:
    """Per-root healthy-cell colour statistics, and the batch function that applies them."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, roots: np.ndarray, p: float, seed: int,
                 p_parasitized: float | None = None, spread: float = 0.0):
        self.p, self.seed, self.spread = p, seed, spread
        self.p_pos = p if p_parasitized is None else p_parasitized
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

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        lab = rng.integers(0, len(self.targets), n)
        return np.stack([self.targets[k][rng.integers(0, len(self.targets[k]))] for k in lab])

    def __call__(self, images: np.ndarray, roots: np.ndarray, step: np.int64,
                 labels: np.ndarray | None = None) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(step), 7])
        p = np.full(len(images), self.p) if labels is None else np.where(np.ravel(labels) > 0.5, self.p_pos, self.p)
        chosen = np.flatnonzero(rng.random(len(images)) < p)
        if len(chosen) == 0 or not self.targets:
            return images
        targets = self._draw(rng, len(chosen))
        if self.spread > 0:  # stains between and beyond the training labs' (parasitized cells only)
            pos = np.zeros(len(chosen), bool) if labels is None else np.ravel(labels)[chosen] > 0.5
            u = rng.uniform(-self.spread, 1 + self.spread, (len(chosen), 1))
            mixed = targets + u * (self._draw(rng, len(chosen)) - targets)
            mixed[:, :3] = np.clip(mixed[:, :3], 0, 255)
            mixed[:, 3:] = np.maximum(mixed[:, 3:], 1.0)
            targets = np.where(pos[:, None], mixed, targets)
        out = images.copy()
        out[chosen] = transfer_colour(images[chosen], targets, self.ref_std[roots[chosen]])
        return out
