"""Patient-level, stratified, seeded train/validation/test split, written to CSV so it can be reproduced.

Stratified by each patient's share of parasitized cells (NIH patients range from all-uninfected to
mostly parasitized), so every split sees the same mix; within a stratum, patients are dealt to the split
furthest below its target share of cells, which keeps cell counts close to the requested fractions.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

from malaria_desktop.core.digest import sha256_of_file
from training.data import Sample

SPLITS = ("train", "val", "test")
HEADER = ["root", "file", "label", "patient", "split"]


def split_patients(samples: list[Sample], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                   seed: int = 0, strata: int = 4) -> dict[str, str]:
    """Map each patient id to ``train``/``val``/``test``; no patient is in two splits."""
    if abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"split fractions {fractions} must be >= 0 and sum to 1")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        counts[s.patient][s.label] += 1
    rng = random.Random(seed)
    patients = sorted(counts)
    rng.shuffle(patients)
    # Stratum = quantile of the parasitized share, ties broken by the seeded shuffle (stable sort).
    patients.sort(key=lambda p: counts[p][1] / sum(counts[p]))
    per = max(1, -(-len(patients) // strata))
    assignment: dict[str, str] = {}
    for start in range(0, len(patients), per):
        stratum = patients[start:start + per]
        rng.shuffle(stratum)
        totals = [sum(counts[p][label] for p in stratum) for label in (0, 1)]
        given = {s: [0, 0] for s in SPLITS}
        for p in stratum:
            # How far below its target share of each class a split is, weighted by this patient's cells.
            deficit = {s: sum((f * totals[c] - given[s][c]) * counts[p][c] for c in (0, 1))
                       for s, f in zip(SPLITS, fractions, strict=False) if f > 0}
            choice = max(deficit, key=lambda s: (deficit[s], -SPLITS.index(s)))
            assignment[p] = choice
            given[choice][0] += counts[p][0]
            given[choice][1] += counts[p][1]
    # Tiny data sets: make sure every requested split gets a patient, taking the smallest from the biggest split.
    for name, f in zip(SPLITS, fractions, strict=False):
        members = {s: [p for p in patients if assignment[p] == s] for s in SPLITS}
        donor = max(SPLITS, key=lambda s: len(members[s]))
        if f > 0 and not members[name] and len(members[donor]) > 1:
            assignment[min(members[donor], key=lambda p: (sum(counts[p]), p))] = name
    return assignment


def write_split(path: Path, samples: list[Sample], assignment: dict[str, str]) -> str:
    """Write ``split.csv`` (paths relative to their data root) and return its sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for s in samples:
            writer.writerow([s.root, s.rel, s.label, s.patient, assignment[s.patient]])
    return file_sha256(path)


def read_split(path: Path) -> tuple[list[Sample], list[str]]:
    """Samples and their split names, as written by ``write_split``."""
    samples, names = [], []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            samples.append(Sample(int(row["root"]), row["file"], int(row["label"]), row["patient"]))
            names.append(row["split"])
    return samples, names


def file_sha256(path: Path) -> str:
    return sha256_of_file(path)
