"""Segmentation on synthetic smears with known ground truth: recall, precision, counts, edge flags."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from malaria_desktop.core.segmentation.engine import (
    SegmentationOptions,
    coverage_maps,
    estimate_cell_diameter,
    segment_cells,
)
from malaria_desktop.core.synthetic import generate_smear


def lookup(result, cells):
    """For each true cell: (covered exactly once, id of the detection under its centre or 0)."""
    count, ids = coverage_maps(result)
    h, w = result.image_shape
    out = []
    for c in cells:
        x = min(max(int(round(c.centroid[0])), 0), w - 1)
        y = min(max(int(round(c.centroid[1])), 0), h - 1)
        out.append((count[y, x] == 1, int(ids[y, x]) if count[y, x] else 0))
    return out


def recall_precision(smear, result):
    hits = lookup(result, smear.rbcs)
    found = [cid for once, cid in hits if once]
    recall = len(found) / max(len(smear.rbcs), 1)
    precision = len(set(found)) / max(len(result.cells), 1)  # detections holding one true RBC centre
    return recall, precision


CASES = [
    dict(seed=1),
    dict(seed=2, width=640, height=480, cell_diameter=40),
    dict(seed=3, cell_diameter=110, n_wbc=2),
    dict(seed=4, illumination=0.6),
    dict(seed=5, density=0.5, touching_fraction=0.35),
    dict(seed=6, noise=7.0, blur=1.5),
    dict(seed=7, pale_centre=0.75),
    dict(seed=8, width=1600, height=1200, cell_diameter=220, density=0.35),
    dict(seed=9, stain=0.35, irregularity=0.1, illumination=0.5),  # pale, irregular, strong vignetting
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_recall_precision_and_count_on_varied_smears(kw):
    smear = generate_smear(**kw)
    result = segment_cells(smear.image)
    recall, precision = recall_precision(smear, result)
    assert recall >= 0.95, (recall, len(result.cells), len(smear.rbcs))
    assert precision >= 0.9, (precision, len(result.cells), len(smear.rbcs))
    assert abs(len(result.cells) - len(smear.rbcs)) <= max(3, 0.08 * len(smear.rbcs))
    assert result.cell_diameter_px == pytest.approx(smear.cell_diameter_px, rel=0.2)


def test_white_cells_and_platelets_are_not_counted():
    smear = generate_smear(seed=21, n_wbc=3, n_platelets=40)
    assert sum(c.kind == "wbc" for c in smear.cells) >= 2
    assert sum(c.kind == "platelet" for c in smear.cells) >= 30
    result = segment_cells(smear.image)
    others = [c for c in smear.cells if c.kind != "rbc"]
    covered = [cid for _, cid in lookup(result, others) if cid]
    assert covered == []
    recall, precision = recall_precision(smear, result)
    assert recall >= 0.93 and precision >= 0.95


def test_touching_pairs_are_split():
    smear = generate_smear(seed=31, density=0.45, touching_fraction=0.6)
    rbcs = smear.rbcs
    xy = np.array([c.centroid for c in rbcs])
    r = np.array([c.radius for c in rbcs])
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    touching = (dist < (r[:, None] + r[None, :]) * 1.02) & ~np.eye(len(rbcs), dtype=bool)
    pairs = np.argwhere(np.triu(touching))
    assert len(pairs) >= 15  # the case must really contain touching/overlapping cells
    hits = lookup(segment_cells(smear.image), rbcs)
    split = sum(1 for i, j in pairs if hits[i][0] and hits[j][0] and hits[i][1] != hits[j][1])
    assert split / len(pairs) >= 0.9


def test_edge_flags_match_truth_and_boxes():
    smear = generate_smear(seed=41, density=0.4)
    result = segment_cells(smear.image)
    h, w = result.image_shape
    for c in result.cells:
        x, y, bw, bh = c.bbox
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        assert c.on_edge == touches
    by_id = {c.cell_id: c for c in result.cells}
    hits = lookup(result, smear.rbcs)
    pairs = [(t.on_edge, by_id[cid].on_edge) for t, (once, cid) in zip(smear.rbcs, hits, strict=False) if once]
    assert sum(t for t, _ in pairs) >= 5
    agree = sum(t == d for t, d in pairs) / len(pairs)
    assert agree >= 0.97


def test_cell_contract_fields_are_consistent():
    smear = generate_smear(seed=51, width=900, height=700)
    result = segment_cells(smear.image)
    h, w = smear.image.shape[:2]
    assert result.image_shape == (h, w)
    assert [c.cell_id for c in result.cells] == list(range(1, len(result.cells) + 1))
    for c in result.cells:
        x, y, bw, bh = c.bbox
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        assert c.mask.dtype == bool and c.mask.shape == (bh, bw)
        assert c.area_px == int(c.mask.sum()) > 0
        assert c.contour.dtype == np.int32 and c.contour.ndim == 2 and c.contour.shape[1] == 2
        assert (c.contour[:, 0] >= x).all() and (c.contour[:, 0] < x + bw).all()
        assert (c.contour[:, 1] >= y).all() and (c.contour[:, 1] < y + bh).all()
        cx, cy = c.centroid
        assert x <= cx < x + bw and y <= cy < y + bh


def test_masks_follow_true_cell_size():
    smear = generate_smear(seed=61, cell_diameter=80, density=0.25, touching_fraction=0.0)
    result = segment_cells(smear.image)
    by_id = {c.cell_id: c for c in result.cells}
    ratios = [by_id[cid].area_px / (np.pi * t.axes[0] * t.axes[1])
              for t, (once, cid) in zip(smear.rbcs, lookup(result, smear.rbcs), strict=False) if once and not t.on_edge]
    assert 0.8 <= float(np.median(ratios)) <= 1.2


def test_same_field_at_two_scales_gives_the_same_count():
    small = generate_smear(seed=71, width=640, height=480, cell_diameter=45, density=0.35)
    big = generate_smear(seed=71, width=1920, height=1440, cell_diameter=135, density=0.35)
    n_small, n_big = len(segment_cells(small.image).cells), len(segment_cells(big.image).cells)
    assert abs(n_small - len(small.rbcs)) <= max(3, 0.08 * len(small.rbcs))
    assert abs(n_big - len(big.rbcs)) <= max(3, 0.08 * len(big.rbcs))


def test_diameter_estimate_tracks_cell_size():
    for d in (40, 70, 140):
        smear = generate_smear(seed=d, width=max(640, 10 * d), height=max(480, 8 * d), cell_diameter=d)
        assert estimate_cell_diameter(smear.image) == pytest.approx(d, rel=0.2)


def test_options_are_frozen_and_override():
    opts = SegmentationOptions(cell_diameter_px=60.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.cell_diameter_px = 10.0  # type: ignore[misc]
    smear = generate_smear(seed=81, cell_diameter=60)
    result = segment_cells(smear.image, opts)
    assert result.cell_diameter_px == 60.0
    assert recall_precision(smear, result)[0] >= 0.95
    strict = segment_cells(smear.image, SegmentationOptions(cell_diameter_px=60.0, min_area_frac=5.0))
    assert strict.cells == ()


def test_empty_and_flat_fields_give_no_cells_and_a_warning():
    white = np.full((480, 640, 3), 235, np.uint8)
    noise = np.clip(np.random.default_rng(0).normal(200, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
    for img in (white, noise):
        result = segment_cells(img)
        assert len(result.cells) <= 2
        assert any("few cells" in w or "no cells" in w for w in result.warnings)


@pytest.mark.parametrize("kw", [dict(), dict(noise=8.0, stain=0.45), dict(width=640, height=480, cell_diameter=40)])
def test_blurred_field_is_flagged_whatever_contrast_and_noise(kw):
    d = kw.get("cell_diameter", 64.0)
    kw = {"cell_diameter": d, **kw}
    sharp = generate_smear(seed=91, blur=0.6, **kw)
    blurred = generate_smear(seed=91, blur=6.0 * d / 64.0, **kw)
    assert not any("blurred" in w for w in segment_cells(sharp.image).warnings)
    assert any("blurred" in w for w in segment_cells(blurred.image).warnings)


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (40, 30, 3)])
@pytest.mark.parametrize("value", [0, 128, 255])
def test_tiny_and_flat_images_do_not_crash(shape, value):
    result = segment_cells(np.full(shape, value, np.uint8))
    assert result.cells == () and result.image_shape == shape[:2] and result.warnings


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError):
        segment_cells(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        segment_cells(np.zeros((10, 10, 3), np.float32))


def test_wide_field_with_small_cells_is_not_merged():
    """On a copy shrunk to ~480 px these cells would be ~7 px and glue together; the estimate must not."""
    smear = generate_smear(seed=101, width=2656, height=1494, cell_diameter=40, density=0.4)
    result = segment_cells(smear.image)
    assert result.cell_diameter_px == pytest.approx(40, rel=0.25)
    recall, precision = recall_precision(smear, result)
    assert recall >= 0.95 and precision >= 0.95
