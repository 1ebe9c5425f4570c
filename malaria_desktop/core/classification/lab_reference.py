"""One lab's entry of a model card's ``reference`` (see ``domain_check``), from its cells' per-field statistics.

Why in core: training computes the entries of the labs a model learned from (``training.reference_stats``),
and calibration computes the entry of the lab it calibrates to (``core.calibration``), so a calibrated
model does not call its own lab's fields "unlike the training data". One computation for both.

From the per-field medians: centre = median, covariance after dropping the 2.5 % most distant fields, plus
a small ridge; ``colour_limit`` = ``margin`` x the 99th percentile of the lab's own fields' distances;
``size_px``, ``uncertain_share_limit`` and ``response_limit`` likewise from per-field sizes, shares of cells
in the uncertain band and lower quartiles of P(parasitized).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from malaria_desktop.core.classification.domain_check import RESPONSE_QUANTILE, summarise_cells

MARGIN = 1.25
RIDGE = 1.0  # L*a*b* units^2 added to the covariance diagonal: a lab with very uniform fields stays usable
MIN_FIELDS = 10
MIN_UNCERTAIN_LIMIT = 0.15
MIN_PROBABILITY_LIMIT = 0.05


def robust_gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre, covariance, distances of all rows) with one trimming pass against odd fields."""
    centre = np.median(x, axis=0)
    cov = np.cov(x.T) + RIDGE * np.eye(x.shape[1])
    dist = distances(x, centre, cov)
    keep = dist <= np.quantile(dist, 0.975)
    if keep.sum() > x.shape[1] + 2:
        cov = np.cov(x[keep].T) + RIDGE * np.eye(x.shape[1])
    return centre, cov, distances(x, centre, cov)


def distances(x: np.ndarray, centre: np.ndarray, cov: np.ndarray) -> np.ndarray:
    d = x - centre
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d), 0.0))


def lab_reference(colour: np.ndarray, fields: np.ndarray, sizes: np.ndarray | None, probs: np.ndarray | None,
                  band: tuple[float, float] | None, min_cells: int, margin: float) -> dict[str, Any] | None:
    """One lab's entry from its per-crop colour rows; ``None`` when it has fewer than ``MIN_FIELDS`` fields."""
    medians, field_sizes, shares, responses = [], [], [], []
    for field in np.unique(fields):
        sel = fields == field
        ok = sel & np.all(np.isfinite(colour), axis=1)
        if ok.sum() < min_cells:
            continue
        stats = summarise_cells(colour[ok], None if sizes is None else sizes[ok])
        if stats is None:
            continue
        medians.append(stats.colour)
        if stats.size_px is not None:
            field_sizes.append(stats.size_px)
        if probs is not None:
            p = probs[sel & np.isfinite(probs)]
            if p.size >= min_cells:
                responses.append(float(np.quantile(p, RESPONSE_QUANTILE)))
                if band is not None:
                    shares.append(float(np.mean((p >= band[0]) & (p <= band[1]))))
    if len(medians) < MIN_FIELDS:
        return None
    x = np.asarray(medians, np.float64)
    centre, cov, dist = robust_gaussian(x)
    entry: dict[str, Any] = {
        "fields": len(medians), "cells": int(np.isfinite(colour).all(axis=1).sum()),
        "colour_median": [round(float(v), 3) for v in centre],
        "colour_covariance": [[round(float(v), 4) for v in row] for row in cov],
        "colour_limit": round(float(margin * np.quantile(dist, 0.99)), 3),
        "size_px": None, "uncertain_share_limit": None, "response_limit": None,
    }
    if len(field_sizes) >= MIN_FIELDS:
        s = np.asarray(field_sizes)
        entry["size_px"] = [round(float(np.quantile(s, 0.01) / margin), 1), round(float(np.median(s)), 1),
                            round(float(np.quantile(s, 0.99) * margin), 1)]
    if len(responses) >= MIN_FIELDS:
        limit = max(margin * float(np.quantile(responses, 0.99)), MIN_PROBABILITY_LIMIT)
        entry["response_limit"] = round(min(limit, 1.0), 4)
    if len(shares) >= MIN_FIELDS:
        share = max(margin * float(np.quantile(shares, 0.99)), MIN_UNCERTAIN_LIMIT)
        entry["uncertain_share_limit"] = round(min(share, 1.0), 3)
    return entry
