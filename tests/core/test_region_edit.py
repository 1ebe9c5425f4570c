"""Clump tools: split a clump at its neck, cut along a line, merge halves, delete — each one undo step."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review.region_edit import (
    RegionEditError,
    delete_region,
    merge_regions,
    pieces_area,
    region,
    split_by_line,
    split_mask,
    split_region,
)
from malaria_desktop.core.review.state import ReviewState, reviewed_counts, reviewed_result


def clump_result() -> ImageResult:
    """One region made of two touching discs (centres 40 px apart, r 16) plus a single round cell."""
    mask = np.zeros((40, 80), np.uint8)
    cv2.circle(mask, (20, 20), 16, 1, -1)
    cv2.circle(mask, (50, 20), 16, 1, -1)  # overlapping: one region with a neck at x = 35
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    x, y = 10, 10
    clump = Cell(0, (x, y, 80, 40), (50.0, 30.0), int(mask.sum()), mask.astype(bool),
                 contours[0].reshape(-1, 2).astype(np.int32) + (x, y), False)
    single_mask = np.zeros((33, 33), np.uint8)
    cv2.circle(single_mask, (16, 16), 16, 1, -1)
    c2, _ = cv2.findContours(single_mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    single = Cell(1, (120, 10, 33, 33), (136.0, 26.0), int(single_mask.sum()), single_mask.astype(bool),
                  c2[0].reshape(-1, 2).astype(np.int32) + (120, 10), False)
    cells = (CellResult(clump, 0.8, "parasitized"), CellResult(single, 0.1, "uninfected"))
    return ImageResult(Path("f.png"), "ok", image_shape=(100, 200), cells=cells, cell_diameter_px=33.0,
                       threshold=0.5)


def test_split_mask_cuts_at_the_neck() -> None:
    cell = clump_result().cells[0].cell
    labels = split_mask(cell.mask, 2)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels > 0).sum() == cell.mask.sum()  # every pixel of the region goes to a piece
    xs = sorted(float(np.nonzero(labels == k)[1].mean()) for k in (1, 2))
    assert xs[0] < 25 and xs[1] > 45  # one piece per disc
    for k in (1, 2):
        assert np.nonzero(labels == k)[1].max() - np.nonzero(labels == k)[1].min() < 45


def test_split_region_counts_and_undo() -> None:
    result = clump_result()
    results = {"f.png": result}
    review = ReviewState()
    assert reviewed_counts(results, review).total.reviewed_cells == 2
    ids = split_region("f.png", result, review, 0, 2)
    assert len(ids) == 2
    counts = reviewed_counts(results, review).total
    assert counts.reviewed_cells == 3 and counts.auto_cells == 2 and counts.reviewed_parasitized == 0
    area = pieces_area("f.png", result, review, ids)
    assert abs(area - result.cells[0].cell.area_px) <= 0.08 * result.cells[0].cell.area_px
    assert review.undo() and reviewed_counts(results, review).total.reviewed_cells == 2
    assert review.edits_count == 0
    assert review.redo() and reviewed_counts(results, review).total.reviewed_cells == 3
    # pieces survive a save/load (their outline is stored)
    again = ReviewState.from_dict(review.to_dict())
    assert reviewed_counts(results, again).total.reviewed_cells == 3


def test_merge_two_halves_and_split_line() -> None:
    result = clump_result()
    results = {"f.png": result}
    review = ReviewState()
    left, right = split_by_line("f.png", result, review, 0, (45, 0), (45, 60))
    assert reviewed_counts(results, review).total.reviewed_cells == 3
    merged = merge_regions("f.png", result, review, [left, right])
    counts = reviewed_counts(results, review).total
    assert counts.reviewed_cells == 2
    cell = region("f.png", result, review, merged)
    assert abs(int(cell.mask.sum()) - result.cells[0].cell.area_px) < 0.1 * result.cells[0].cell.area_px
    assert review.undo() and reviewed_counts(results, review).total.reviewed_cells == 3
    with pytest.raises(RegionEditError, match="removed"):
        merge_regions("f.png", result, review, [0, 1])  # the clump itself was split away
    assert review.undo() and reviewed_counts(results, review).total.reviewed_cells == 2
    # merging a parasitized region keeps the verdict; separate cells are joined by their hull
    merged2 = merge_regions("f.png", result, review, [0, 1])
    shown = {c.cell.cell_id: c.label for c in reviewed_result("f.png", result, review).cells}
    assert shown == {merged2: "parasitized"}


def test_delete_and_errors() -> None:
    result = clump_result()
    review = ReviewState()
    delete_region("f.png", result, review, 1)
    assert reviewed_counts({"f.png": result}, review).total.reviewed_cells == 1
    with pytest.raises(RegionEditError):
        delete_region("f.png", result, review, 99)
    with pytest.raises(RegionEditError):
        split_region("f.png", result, review, 0, 1)
    with pytest.raises(RegionEditError):
        merge_regions("f.png", result, review, [0])
    with pytest.raises(RegionEditError, match="line"):
        split_by_line("f.png", result, review, 0, (0, 0), (5, 0))


def test_region_at_finds_the_shown_cell() -> None:
    from malaria_desktop.core.review.region_edit import region_at

    result = clump_result()
    review = ReviewState()
    assert region_at("f.png", result, review, 30, 30) == 0 and region_at("f.png", result, review, 136, 26) == 1
    assert region_at("f.png", result, review, 5, 5) is None
    left, right = split_region("f.png", result, review, 0, 2)
    assert region_at("f.png", result, review, 30, 30) in (left, right)  # the piece, not the removed clump
