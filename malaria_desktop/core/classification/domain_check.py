"""Does this field look like the data the model learned from? A per-image "unlike the training data" warning.

Why: the classifier is reliable only on images like its training labs; on a foreign stain, lamp, camera or
magnification it turns ordinary red cells positive with confidence. This check compares cheap statistics
of the field's own cells with reference statistics of the training labs, stored in the model card under
``reference`` (written by ``training.reference_stats.compute_reference``), and warns when the field is
like none of them. Built-in defaults (NIH/NLM cells, the data of the first bundled models) are used when a
card has no ``reference``.

Statistics of one field, over its *typical* cells (not cut by the border, area 0.5-1.8x the field's
median; clumps and fragments are not what training crops look like), each cut with ``crop_cell`` at the
model's input size, exactly like the training crops:

- colour: median over cells of the per-cell L*a*b* mean and std (OpenCV 8-bit scale; the same numbers as
  ``crop_colour_stats``), compared by Mahalanobis distance with each lab's distribution of
  per-field medians; beyond the lab's ``colour_limit`` = unlike that lab's stain/lamp/camera;
- size: median native cell size (max(bbox width, height) in pixels) outside the lab's ``size_px`` range =
  another magnification or camera resolution;
- classifier response: the lower quartile (``RESPONSE_QUANTILE``) of P(parasitized) over the field's cells
  above the lab's ``response_limit`` = most cells look more suspicious to this model than in any healthy
  field of that lab (validation cells). A true infection moves the lower quartile only when over 75 % of
  the cells are infected (the slide's implausible-parasitemia flag fires long before). This is what flags a lab whose
  cells *measure* like a training lab's but that the model still misreads (BCCD against NIH: see
  ``docs/benchmarks/foreign_lab_flags.md``).
- uncertain share: share of cells with P(parasitized) in the reference's ``uncertain_band``; above every
  lab's ``uncertain_share_limit`` = the model is confused.

Rule: "unlike_training_data" when no lab matches colour, size and response (each where the lab has it);
"many_uncertain_cells" on its own. The response and uncertain limits depend on the model, so the built-in
defaults have none: only a card written by ``training.export`` (``compute_reference`` with the exported
model's probabilities) enables them.
Warnings are ``"<kind>: <words>"`` so reports can count them by kind (``plausibility.warning_kind``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.results import CellResult

REFERENCE_VERSION = 1
FEATURES = ("L_mean", "a_mean", "b_mean", "L_std", "a_std", "b_std")
TYPICAL_AREA = (0.5, 1.8)  # same selection as training.foreign_cells, so both sides measure alike
RESPONSE_QUANTILE = 0.25  # of the cells' P(parasitized): robust to true parasitemia up to 75 %
MIN_CELLS = 8  # fewer typical cells: no judgement (segmentation already warns "very few cells")
UNLIKE = "unlike_training_data"
UNCERTAIN = "many_uncertain_cells"


@dataclass(frozen=True)
class FieldStats:
    """What one field (or one reference field) looks like; ``None`` where unknown."""

    n_cells: int
    colour: tuple[float, ...]  # medians of FEATURES
    size_px: float | None = None
    uncertain_share: float | None = None
    response: float | None = None  # RESPONSE_QUANTILE of the cells' P(parasitized)


@dataclass(frozen=True)
class LabReference:
    """One training lab: the spread of its per-field statistics and the limits derived from it."""

    name: str
    colour_median: np.ndarray  # (6,)
    colour_inv_cov: np.ndarray  # (6, 6)
    colour_limit: float
    size_px: tuple[float, float] | None = None  # (low, high), margin included
    uncertain_share_limit: float | None = None
    fields: int = 0
    response_limit: float | None = None

    def colour_distance(self, colour: Sequence[float]) -> float:
        d = np.asarray(colour, np.float64) - self.colour_median
        return float(np.sqrt(max(d @ self.colour_inv_cov @ d, 0.0)))

    def size_ok(self, size_px: float | None) -> bool:
        return self.size_px is None or size_px is None or self.size_px[0] <= size_px <= self.size_px[1]

    def response_ok(self, response: float | None) -> bool:
        return self.response_limit is None or response is None or response <= self.response_limit


@dataclass(frozen=True)
class Reference:
    labs: tuple[LabReference, ...]
    uncertain_band: tuple[float, float] | None = None
    rule: str = ""
    source: str = "model card"


def parse_reference(data: Mapping[str, Any], source: str = "model card") -> Reference:
    """Validate the card's ``reference`` object; ValueError names the first problem."""
    if not isinstance(data, Mapping) or data.get("version") != REFERENCE_VERSION:
        raise ValueError(f"'reference' must be an object with version {REFERENCE_VERSION}")
    if tuple(data.get("features", ())) != FEATURES:
        raise ValueError(f"'reference.features' must be {list(FEATURES)}")
    labs_data = data.get("labs")
    if not isinstance(labs_data, Mapping) or not labs_data:
        raise ValueError("'reference.labs' must name at least one lab")
    labs = tuple(_parse_lab(str(name), lab) for name, lab in labs_data.items())
    raw = data.get("uncertain_band")
    band: tuple[float, float] | None = None
    if raw is not None:
        values = [float(v) for v in raw]
        if len(values) != 2 or not 0 <= values[0] <= values[1] <= 1:
            raise ValueError("'reference.uncertain_band' must be [low, high] within 0..1")
        band = (values[0], values[1])
    return Reference(labs, band, str(data.get("rule", "")), source)


def _parse_lab(name: str, lab: Any) -> LabReference:
    try:
        median = np.asarray(lab["colour_median"], np.float64)
        cov = np.asarray(lab["colour_covariance"], np.float64)
        limit = float(lab["colour_limit"])
        size = lab.get("size_px")
        size_range = None if size is None else (float(size[0]), float(size[-1]))
        share = lab.get("uncertain_share_limit")
        share = None if share is None else float(share)
        response = lab.get("response_limit")
        response = None if response is None else float(response)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"'reference.labs.{name}' is malformed ({exc})") from exc
    if median.shape != (6,) or cov.shape != (6, 6) or not (np.all(np.isfinite(median)) and np.all(np.isfinite(cov))):
        raise ValueError(f"'reference.labs.{name}' needs a 6-value colour_median and a 6x6 colour_covariance")
    if not limit > 0 or (size_range is not None and not 0 < size_range[0] <= size_range[1]):
        raise ValueError(f"'reference.labs.{name}': colour_limit must be > 0 and size_px a [low, high] range")
    try:
        inv = np.linalg.inv(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"'reference.labs.{name}': colour_covariance is singular") from exc
    return LabReference(name, median, inv, limit, size_range, share, int(lab.get("fields", 0)), response)


# ---------------------------------------------------------------- statistics


def crop_colour_stats(crops: np.ndarray) -> np.ndarray:
    """Per-crop L*a*b* mean and std over the cell's (not pure black) pixels: ``(N, 6)`` float32, NaN if < 4 px.

    Computed for the whole batch at once so the check costs milliseconds per field; training uses the same
    function (``training.stain.cell_colour_stats``), so card references and field checks cannot drift.
    """
    crops = np.ascontiguousarray(crops, dtype=np.uint8)
    out = np.full((len(crops), 6), np.nan, np.float32)
    if len(crops) == 0:
        return out
    n, h, w, _ = crops.shape
    flat = crops.reshape(n, h * w, 3)
    mask = (np.maximum(np.maximum(flat[..., 0], flat[..., 1]), flat[..., 2]) > 0).astype(np.float64)
    lab = cv2.cvtColor(crops.reshape(n * h, w, 3), cv2.COLOR_RGB2LAB).reshape(n, h * w, 3).astype(np.float64)
    count = mask.sum(axis=1)
    ok = count >= 4
    safe = np.maximum(count, 1)[:, None]
    mean = np.einsum("np,npc->nc", mask, lab) / safe
    var = np.einsum("np,npc->nc", mask, lab * lab) / safe - mean * mean
    out[ok, :3] = mean[ok]
    out[ok, 3:] = np.sqrt(np.maximum(var[ok], 0.0))
    return out


def typical_cells(cells: Sequence[CellResult]) -> list[CellResult]:
    """Whole cells of typical size (not cut by the border, area within ``TYPICAL_AREA`` x the median)."""
    inner = [c for c in cells if not c.cell.on_edge]
    if not inner:
        return []
    median = float(np.median([c.cell.area_px for c in inner]))
    low, high = TYPICAL_AREA
    return [c for c in inner if low * median <= c.cell.area_px <= high * median]


def summarise_cells(colour: np.ndarray, sizes: Sequence[float] | np.ndarray | None = None,
                    probabilities: Sequence[float] | np.ndarray | None = None,
                    band: tuple[float, float] | None = None) -> FieldStats | None:
    """Field statistics from per-cell rows (``crop_colour_stats``), native sizes and probabilities."""
    finite = np.all(np.isfinite(colour), axis=1) if len(colour) else np.zeros(0, bool)
    if finite.sum() == 0:
        return None
    size = None
    if sizes is not None and len(sizes):
        s = np.asarray(sizes, np.float64)
        s = s[np.isfinite(s)]
        size = float(np.median(s)) if s.size else None
    share = response = None
    if probabilities is not None and len(probabilities):
        p = np.asarray(probabilities, np.float64)
        p = p[np.isfinite(p)]
        if p.size:
            response = float(np.quantile(p, RESPONSE_QUANTILE))
            if band is not None:
                share = float(np.mean((p >= band[0]) & (p <= band[1])))
    colour_median = tuple(float(v) for v in np.median(colour[finite], axis=0))
    return FieldStats(int(finite.sum()), colour_median, size, share, response)


def field_stats(image: np.ndarray, cells: Sequence[CellResult], input_size: int,
                band: tuple[float, float] | None = None) -> FieldStats | None:
    """Statistics of one analysed field (``None`` with fewer than ``MIN_CELLS`` typical cells)."""
    chosen = typical_cells(cells)
    if len(chosen) < MIN_CELLS:
        return None
    crops = np.stack([crop_cell(image, c.cell.bbox, c.cell.mask, input_size) for c in chosen])
    sizes = [max(c.cell.bbox[2], c.cell.bbox[3]) for c in chosen]
    return summarise_cells(crop_colour_stats(crops), sizes, [c.probability for c in chosen], band)


# ---------------------------------------------------------------- judgement


def judge(stats: FieldStats | None, reference: Reference) -> tuple[str, ...]:
    """Warnings for one field (empty when it looks like at least one training lab)."""
    if stats is None or stats.n_cells < MIN_CELLS:
        return ()
    warnings = []
    def misses(lab: LabReference) -> list[str]:
        return [what for what, off in (
            ("stain colour", lab.colour_distance(stats.colour) > lab.colour_limit),
            ("cell size", not lab.size_ok(stats.size_px)),
            ("classifier response (most cells look suspicious)", not lab.response_ok(stats.response)),
        ) if off]

    if all(misses(lab) for lab in reference.labs):
        nearest = min(reference.labs, key=lambda lab: (len(misses(lab)),
                                                       lab.colour_distance(stats.colour) / lab.colour_limit))
        warnings.append(f"{UNLIKE}: {' and '.join(misses(nearest))} unlike the training data (nearest lab: "
                        f"{nearest.name}); results may be wrong - review the cells")
    limits = [lab.uncertain_share_limit for lab in reference.labs if lab.uncertain_share_limit is not None]
    if stats.uncertain_share is not None and limits and stats.uncertain_share > max(limits):
        warnings.append(f"{UNCERTAIN}: {stats.uncertain_share:.0%} of cells are uncertain "
                        f"(training fields: at most {max(limits):.0%}) - review them")
    return tuple(warnings)


def check_field(image: np.ndarray, cells: Sequence[CellResult], input_size: int,
                reference: Reference) -> tuple[str, ...]:
    """``judge(field_stats(...))`` with the reference's uncertain band."""
    return judge(field_stats(image, cells, input_size, reference.uncertain_band), reference)


# ---------------------------------------------------------------- built-in defaults

# Used when a model card has no ``reference``: the 8,204 uninfected NIH/NLM crops (120 patients, 768 source
# fields with 5+ uninfected crops; Chittagong, Giemsa, smartphone camera), the data every model bundled
# before the card key existed learned from. Computed by ``training.reference_stats.compute_reference`` at a
# 48 px input (L_std reads ~1.5 lower at 64 px: well inside the limit), sizes from the original crop files.
# No uncertain-share limit: that one depends on the model and is only known from its own validation cells.
DEFAULT_REFERENCE_DATA: dict[str, Any] = {
    "version": REFERENCE_VERSION, "features": list(FEATURES), "uncertain_band": None,
    "rule": "built-in NIH/NLM reference (model card without 'reference'); see core.classification.domain_check",
    "labs": {"nih": {
        "fields": 768, "cells": 8204,
        "colour_median": [165.554, 143.7, 132.824, 27.393, 3.526, 2.223],
        "colour_covariance": [[76.5749, -31.047, 21.5396, 11.8103, -7.715, -7.9781],
                              [-31.047, 54.9892, 37.3463, 1.4095, 8.6592, -1.3912],
                              [21.5396, 37.3463, 79.1883, 16.2218, 2.354, -9.3641],
                              [11.8103, 1.4095, 16.2218, 16.8639, -0.1657, -1.9051],
                              [-7.715, 8.6592, 2.354, -0.1657, 2.995, 0.6512],
                              [-7.9781, -1.3912, -9.3641, -1.9051, 0.6512, 3.3629]],
        "colour_limit": 7.884, "size_px": [88.8, 137.5, 211.9], "uncertain_share_limit": None,
        "response_limit": None}},
}
DEFAULT_REFERENCE = parse_reference(DEFAULT_REFERENCE_DATA, source="built-in defaults (NIH/NLM)")
