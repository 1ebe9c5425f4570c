"""The synthetic smear generator: deterministic, varied, with ground truth that matches the pixels."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.image_io import load_image
from malaria_desktop.core.synthetic import SyntheticSmear, TrueCell, generate_smear, write_synthetic_smear


def test_same_seed_same_field_other_seed_other_field():
    a, b = generate_smear(seed=3), generate_smear(seed=3)
    assert np.array_equal(a.image, b.image) and a.cells == b.cells
    c = generate_smear(seed=4)
    assert not np.array_equal(a.image, c.image)


def test_image_shape_type_and_ground_truth():
    s = generate_smear(seed=1, width=700, height=500, cell_diameter=50, n_wbc=2, n_platelets=10)
    assert isinstance(s, SyntheticSmear)
    assert s.image.shape == (500, 700, 3) and s.image.dtype == np.uint8
    assert all(isinstance(c, TrueCell) for c in s.cells)
    kinds = {k: sum(c.kind == k for c in s.cells) for k in ("rbc", "wbc", "platelet")}
    assert kinds["rbc"] >= 40 and 1 <= kinds["wbc"] <= 2 and kinds["platelet"] == 10
    for c in s.cells:
        x, y = c.centroid
        assert 0 <= x < 700 and 0 <= y < 500 and c.radius > 0
    rbc_r = np.array([c.radius for c in s.rbcs])
    assert np.median(rbc_r) == pytest.approx(25, rel=0.1)
    assert all(c.radius > 1.4 * 25 for c in s.cells if c.kind == "wbc")
    assert all(c.radius < 0.3 * 25 for c in s.cells if c.kind == "platelet")


def test_cells_are_darker_than_glass_and_parasites_darker_still():
    s = generate_smear(seed=2, parasitized_fraction=0.5, illumination=0.0, noise=0.0, pale_centre=0.0)
    grey = s.image.mean(axis=2)
    glass = np.median(grey)  # density < 0.5: the median pixel is glass
    inside = [grey[int(c.centroid[1]), int(c.centroid[0])] for c in s.rbcs if not c.on_edge]
    assert np.median(inside) < glass - 20
    assert 0.3 < np.mean([c.parasitized for c in s.rbcs]) < 0.7
    # the darkest pixel of an infected cell is darker than that of a clean one (ring/chromatin)
    def darkest(c):
        x, y, r = int(c.centroid[0]), int(c.centroid[1]), int(0.8 * c.radius)
        return grey[max(y - r, 0) : y + r, max(x - r, 0) : x + r].min()
    inf = [darkest(c) for c in s.rbcs if c.parasitized and not c.on_edge]
    clean = [darkest(c) for c in s.rbcs if not c.parasitized and not c.on_edge]
    assert np.median(inf) < np.median(clean) - 25


def test_stain_and_background_vary_with_seed():
    means = np.array([generate_smear(seed=s, width=320, height=240, cell_diameter=40).image.reshape(-1, 3).mean(0)
                      for s in range(6)])
    assert means.std(axis=0).max() > 4  # colour casts differ from seed to seed


def test_touching_pairs_exist_when_asked():
    s = generate_smear(seed=5, touching_fraction=0.5, density=0.4)
    xy = np.array([c.centroid for c in s.rbcs])
    r = np.array([c.radius for c in s.rbcs])
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    touching = np.triu((d < (r[:, None] + r[None, :])) & (d > 0))
    assert touching.sum() >= 10


def test_edge_flags_are_true_for_cut_cells_only():
    s = generate_smear(seed=6)
    for c in s.cells:
        x, y = c.centroid
        reach = max(c.axes) if c.axes[0] else c.radius
        cut = x - reach < 0 or y - reach < 0 or x + reach > 1279 or y + reach > 959
        assert c.on_edge == cut


@pytest.mark.parametrize("w, h, d", [(640, 480, 40), (2656, 1494, 250)])
def test_sizes_and_diameters(w, h, d):
    s = generate_smear(seed=7, width=w, height=h, cell_diameter=d)
    assert s.image.shape == (h, w, 3)
    assert s.cell_diameter_px == d
    assert len(s.rbcs) >= 10


def test_fast_enough_for_tests():
    generate_smear(seed=0)
    t = time.perf_counter()
    generate_smear(seed=8)
    assert time.perf_counter() - t < 1.5  # ~0.1 s on an idle machine; generous for shared CI cores


def test_write_synthetic_smear_png(tmp_path: Path):
    p = tmp_path / "demo.png"
    s = write_synthetic_smear(p, seed=9, width=400, height=300, cell_diameter=40)
    assert np.array_equal(load_image(p), s.image)


def _cover(s) -> float:
    h, w = s.image.shape[:2]
    m = np.zeros((h, w), np.uint8)
    for c in s.rbcs:
        cv2.circle(m, (int(round(c.centroid[0])), int(round(c.centroid[1]))), int(round(c.radius)), 1, -1)
    return float(m.mean())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dense_fields_are_crowded_touching_and_in_range(seed):
    from malaria_desktop.core.synthetic import generate_dense_smear

    s = generate_dense_smear(seed=seed)
    assert s.image.shape == (960, 1280, 3)
    assert 40 <= s.cell_diameter_px <= 90
    assert 0.68 <= _cover(s) <= 0.93
    xy = np.array([c.centroid for c in s.rbcs])
    r = np.array([c.radius for c in s.rbcs])
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    near = (d < (r[:, None] + r[None, :]) * 1.1) & ~np.eye(len(r), dtype=bool)
    assert near.any(axis=1).mean() >= 0.8  # most cells touch a neighbour


def test_dense_stains_differ_and_overlays_are_recorded():
    from malaria_desktop.core.synthetic import generate_dense_smear

    means = {k: generate_dense_smear(seed=5, stain_kind=k, scale_bar=False, text=False).image.reshape(-1, 3).mean(0)
             for k in ("magenta", "grey", "beige")}
    assert means["magenta"][1] < means["magenta"][0] and means["magenta"][1] < means["magenta"][2]  # green absorbed
    assert means["beige"][2] < means["beige"][0]  # blue absorbed
    assert np.ptp(means["grey"]) < np.ptp(means["magenta"])
    plain = generate_dense_smear(seed=6, scale_bar=False, text=False)
    assert plain.annotation is None
    assert all(c.on_edge for c in plain.rbcs if c.occluded)  # without labels only off-frame cells are "don't care"
    marked = generate_dense_smear(seed=6)
    assert marked.annotation is not None and marked.annotation.sum() > 500
    changed = np.any(marked.image != plain.image, axis=2)  # the same field, labels burned in on top
    assert changed[marked.annotation].mean() > 0.8
    # anti-aliased text (cv2.LINE_AA) bleeds up to 3 px beyond its mask in OpenCV 4.14 (3 pixels, by 2 levels,
    # at seed 6), so "near" is a 7x7 neighbourhood; nothing farther from a label may change
    near = cv2.dilate(marked.annotation.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert not (changed & ~near).any()
