"""Frozen dataclasses that flow out of the engine (CellProfiler's numpy-in, dataclasses-out habit).

Coordinates are original-image pixels with a top-left origin; ``bbox`` is ``(x, y, width, height)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Label = Literal["parasitized", "uninfected", "not_cell"]
PARASITIZED: Label = "parasitized"
UNINFECTED: Label = "uninfected"
NOT_CELL: Label = "not_cell"  # the not-a-red-cell model's verdict (white cell, platelet, debris): shown, never counted

# The one verdict palette: the window's overlays and legend and the exported annotated images use these, so a
# cell is the same colour on screen and in the report (they differed before issue 21).
VERDICT_COLOURS: dict[str, str] = {PARASITIZED: "#e0102a", UNINFECTED: "#12a33a", NOT_CELL: "#8a8a8a"}


def verdict_rgb(label: str) -> tuple[int, int, int]:
    """The verdict's colour as an RGB triple (``VERDICT_COLOURS``)."""
    code = VERDICT_COLOURS[label].lstrip("#")
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


@dataclass(frozen=True, eq=False)
class Cell:
    """One segmented red blood cell."""

    cell_id: int
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]  # (x, y)
    area_px: int
    mask: np.ndarray  # bool (height, width), local to bbox
    contour: np.ndarray  # int32 (K, 2) of (x, y) in original-image pixels
    on_edge: bool  # touches the image border, so it is cut
    clump: bool = False  # touching cells the segmenter could not split: shown, but left out of the counts


@dataclass(frozen=True)
class SegmentationResult:
    """All cells of one field plus what the segmenter learned about it."""

    cells: tuple[Cell, ...]
    image_shape: tuple[int, int]  # (height, width)
    cell_diameter_px: float  # estimated typical RBC diameter for this image
    warnings: tuple[str, ...] = ()  # image-quality notes, e.g. "blurred", "very few cells"
    uncovered_share: float = 0.0  # share of the stained area in no outlined region ("cells may be missed here")
    uncovered: tuple[np.ndarray, ...] = ()  # int32 (K, 2) outlines of those areas, original pixels


@dataclass(frozen=True, eq=False)
class CellResult:
    """A segmented cell with the classifier's verdict."""

    cell: Cell
    probability: float  # P(parasitized)
    label: Label
    not_cell_probability: float = float("nan")  # P(not a red cell) from the not-a-cell model (NaN: not run)


@dataclass(frozen=True)
class ImageResult:
    """Everything the engine knows about one input file; status 'error' keeps the reason."""

    path: Path
    status: Literal["ok", "error"]
    error: str = ""
    image_shape: tuple[int, int] = (0, 0)
    cells: tuple[CellResult, ...] = ()
    cell_diameter_px: float = 0.0
    warnings: tuple[str, ...] = ()
    threshold: float = 0.5
    content_sha256: str = ""  # SHA-256 of the file that was analysed: outlines and crops are shown/cut only
    # from the same bytes ("" for results from before this was recorded, or images analysed from memory)
    uncovered_share: float = 0.0  # share of the stained area in no outlined region (see segmentation.coverage)
    uncovered: tuple[np.ndarray, ...] = ()  # outlines of those areas (int32 (K, 2), original pixels)

    @property
    def n_cells(self) -> int:
        """Regions that are red cells (the not-a-cell verdicts are shown, never counted)."""
        return sum(1 for c in self.cells if c.label != NOT_CELL)

    @property
    def n_parasitized(self) -> int:
        return sum(1 for c in self.cells if c.label == PARASITIZED)


@dataclass(frozen=True)
class Progress:
    """Yielded by the pipeline between steps; each yield is also a cancel point."""

    image_index: int  # 0-based index of the image being worked on
    n_images: int
    path: Path
    stage: Literal["loading", "segmenting", "classifying", "done"]
    cells_done: int = 0  # cells classified so far in this image
    cells_total: int = 0  # cells found in this image
    cells_counted: int = 0  # cells counted over all finished images of this run


def counted(result: ImageResult, count_edge_cells: bool) -> tuple[int, int]:
    """(cells, parasitized) that enter the counts of one ok image (the one rule for CSVs, GUI and review)."""
    cells = [c for c in result.cells
             if (count_edge_cells or not c.cell.on_edge) and not c.cell.clump and c.label != NOT_CELL]
    return len(cells), sum(1 for c in cells if c.label == PARASITIZED)  # clumps: several cells, never one
