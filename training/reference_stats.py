"""The model card's ``reference``: what the training labs' fields look like, for the app's "unlike" warning.

Why: ``core.classification.domain_check`` warns when a field's cells look like none of the labs the model learned from.
It needs, per lab, the spread of per-field statistics (median cell colour in L*a*b*, cell size, share of
uncertain cells). This module computes them from the training crops, with NumPy and OpenCV only (no
TensorFlow), so ``training.export`` can call it and a benchmark can call it without the lab it tests.

Per lab: crops are grouped by field (the source image; NIH file names carry it before ``_cell_``); only
uninfected crops are used when labels are given (a slide's cells are mostly uninfected); a field needs
``min_cells`` usable crops. From the per-field medians: centre = median, covariance after dropping the
2.5 % most distant fields, plus a small ridge; ``colour_limit`` = ``margin`` x the 99th percentile of
the lab's own fields' distances. ``size_px`` = [1st percentile / margin, 99th percentile x margin] of the
per-field median native cell size. ``uncertain_share_limit`` = max(``margin`` x 99th percentile,
``MIN_UNCERTAIN_LIMIT``) of the per-field share of crops in the band, and ``response_limit`` =
max(``margin`` x 99th percentile, ``MIN_PROBABILITY_LIMIT``) of the per-field lower quartile of P(parasitized) (pass
probabilities of crops the model did NOT train on - validation/test - and NaN for the others).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from malaria_desktop.core.classification.domain_check import FEATURES, REFERENCE_VERSION
from malaria_desktop.core.classification.lab_reference import (  # noqa: F401 - MARGIN and the limits: this module's API
    MARGIN,
    MIN_FIELDS,
    MIN_PROBABILITY_LIMIT,
    MIN_UNCERTAIN_LIMIT,
    RIDGE,
    lab_reference,
)
from training.operating_point import lab_of
from training.stain import cell_colour_stats

RULE = ("unlike_training_data when, for every lab, the field's median cell colour (L*a*b* mean and std of its "
        "whole, typical cells at the model's input size) is beyond the lab's colour_limit (Mahalanobis distance "
        "to the lab's per-field medians; limit = {m} x the 99th percentile of its own fields) or its median "
        "native cell size is outside the lab's size_px range (1st/99th percentile of its fields, widened {m}x) "
        "or the lower quartile of its cells' P(parasitized) is above the lab's response_limit ({m} x the 99th "
        "percentile of its validation fields, at least {p}); "
        "many_uncertain_cells when the share of cells in uncertain_band exceeds every lab's "
        "uncertain_share_limit ({m} x the 99th percentile of its validation fields, at least {u:.0%}).")
_CELL_SUFFIX = re.compile(r"_cell_\d+$")


def field_of(file_name: str, group: str) -> str:
    """Field id of a crop: ``lab:field`` groups (other labs) are fields already; NIH crops name theirs."""
    if ":" in group:
        return group
    return _CELL_SUFFIX.sub("", Path(file_name).stem)


def native_sizes(paths: Sequence[Path | str]) -> np.ndarray:
    """max(width, height) of each crop file as stored (the cell's native size); NaN when unreadable."""
    from PIL import Image

    out = np.full(len(paths), np.nan)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                out[i] = max(img.size)
        except (OSError, ValueError):
            pass
    return out


def compute_reference(
    crops: np.ndarray,
    labs: Sequence[str],
    fields: Sequence[str],
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    sizes: Sequence[float] | np.ndarray | None = None,
    probabilities: Sequence[float] | np.ndarray | None = None,
    uncertain_band: tuple[float, float] | None = None,
    min_cells: int = 5,
    margin: float = MARGIN,
) -> dict[str, Any]:
    """The model card's ``reference`` object (see ``core.classification.domain_check``) from training crops.

    crops: ``(N, S, S, 3)`` uint8 model-input crops (``crop_cell``/``read_crop`` at the card's input size).
    labs, fields: lab name and field (source image) of each crop (``lab_of``/``field_of`` help).
    labels: 1 = parasitized; when given only uninfected crops are used. sizes: native cell size in pixels
    (``native_sizes``), NaN where unknown; None: no size check. probabilities + uncertain_band: the exported
    model's P(parasitized), NaN for crops it trained on; None: no uncertain-share check.
    Labs with fewer than ``MIN_FIELDS`` usable fields are left out and named in ``"skipped"``.
    """
    n = len(crops)
    labs_a, fields_a = np.asarray(labs, dtype=str), np.asarray(fields, dtype=str)
    if len(labs_a) != n or len(fields_a) != n:
        raise ValueError("labs and fields need one entry per crop")
    use = np.ones(n, bool) if labels is None else np.asarray(labels) == 0
    colour = cell_colour_stats(crops)
    sizes_a = None if sizes is None else np.asarray(sizes, np.float64)
    probs_a = None if probabilities is None else np.asarray(probabilities, np.float64)
    band = None if probs_a is None or uncertain_band is None else (float(uncertain_band[0]), float(uncertain_band[1]))
    # note: with probabilities but no band, only the median-probability limit is computed
    out_labs, skipped = {}, []
    for lab in sorted(set(labs_a[use])):
        sel = use & (labs_a == lab)
        entry = lab_reference(colour[sel], fields_a[sel], None if sizes_a is None else sizes_a[sel],
                              None if probs_a is None else probs_a[sel], band, min_cells, margin)
        if entry is None:
            skipped.append(str(lab))
        else:
            out_labs[str(lab)] = entry
    if not out_labs:
        raise ValueError(f"no lab has {MIN_FIELDS} fields with {min_cells}+ usable crops")
    return {"version": REFERENCE_VERSION, "features": list(FEATURES), "labs": out_labs,
            "uncertain_band": None if band is None else [round(v, 6) for v in band],
            "rule": RULE.format(m=margin, u=MIN_UNCERTAIN_LIMIT, p=MIN_PROBABILITY_LIMIT), "skipped": skipped}


def reference_for_run(samples: Sequence[Any], split_names: Sequence[str], crops: np.ndarray, labels: np.ndarray,
                      roots: Sequence[Path | str], model_dir: Path | str,
                      uncertain_band: tuple[float, float] | None = None,
                      probability_splits: tuple[str, ...] = ("val",)) -> dict[str, Any]:
    """The card's ``reference`` for an exported run in one call (what ``training.export`` needs).

    samples/split_names/crops/labels: as ``training.train.load_run_data`` returns them; roots: the run's
    data folders (``Sample.root`` indexes them); model_dir: the exported folder, whose model gives the
    probabilities of the ``probability_splits`` crops (cells it did not train on); uncertain_band: the
    card's (low, high).
    """
    from malaria_desktop.core.classification.classifier import Classifier

    groups = [s.patient for s in samples]
    probs = np.full(len(samples), np.nan)
    chosen = np.isin(np.asarray(split_names), probability_splits)
    if chosen.any():
        probs[chosen] = Classifier.load(Path(model_dir)).predict(crops[chosen])
    return compute_reference(
        crops, [lab_of(g) for g in groups], [field_of(s.rel, s.patient) for s in samples],
        labels=labels, sizes=native_sizes([Path(roots[s.root]) / s.rel for s in samples]),
        probabilities=probs, uncertain_band=uncertain_band)
