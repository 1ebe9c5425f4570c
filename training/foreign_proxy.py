"""Validation parasitized cells as foreign labs show them: the positives side of the operating point.

Why: the slide rule (``training.operating_point``) sees only healthy cells of other labs, so it has no
say on how many foreign parasites a threshold misses. Here, per lab of the run: NIH validation
parasitized cells re-rendered at that lab's native cell size and colours (``training.render``; labs with
healthy cells only), and, for a lab with its own parasitized cells (e.g. MP-IDB), its validation positives
as they are. The probabilities feed ``operating_point.transfer_threshold`` and the card.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.operating_point import NIH_GROUP, cell_groups
from training.render import lab_cells, render_like_lab, source_reference_std
from training.split import read_split


def foreign_positive_probs(run: Path, model_dir: Path, labels: np.ndarray, probs: np.ndarray,
                           patients: list[str]) -> dict[str, np.ndarray]:
    """{lab: P(parasitized) of its validation positives} for every non-NIH lab of the run."""
    from malaria_desktop.core.classification.classifier import Classifier

    roots = [Path(d) for d in json.loads((run / "run_config.json").read_text())["data"]]
    samples, names = read_split(run / "split.csv")
    nih = [(s, n) for s, n in zip(samples, names, strict=False) if s.root == 0]
    val_pos = [roots[0] / s.rel for s, n in nih if n == "val" and s.label == 1]
    ref = [roots[0] / s.rel for s, n in nih if n == "train" and s.label == 0][::10]
    clf = Classifier.load(model_dir)
    size = clf.card.input_size
    out: dict[str, np.ndarray] = {}
    healthy_only = [r for r in roots[1:] if lab_cells(r) and not any((r / "Parasitized").glob("*"))]
    if val_pos and ref and healthy_only:
        ref_std = source_reference_std(ref, size)
        for root in healthy_only:
            out[f"nih-as-{root.name}"] = clf.predict(render_like_lab(val_pos, root, size, ref_std))
    groups = cell_groups(patients)
    for lab in sorted(set(groups) - {NIH_GROUP}):
        own = (groups == lab) & np.asarray(labels).astype(bool)
        if own.any():
            out[lab] = np.asarray(probs)[own]
    return out
