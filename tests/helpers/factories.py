"""Hand-made engine results for tests that need cells but no segmentation (one factory, not one per file).

Cells are squares in a row (``x = left + pitch * i``) with a full mask and a rectangular contour, so
overlays, thumbnails, counts and CSV rows all have something real to work on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from malaria_desktop.core.results import Cell, CellResult, ImageResult, Label


def square_cell(cell_id: int, x: int, y: int, size: int = 20, *, on_edge: bool = False, clump: bool = False) -> Cell:
    contour = np.array([[x, y], [x + size - 1, y], [x + size - 1, y + size - 1], [x, y + size - 1]], np.int32)
    return Cell(cell_id, (x, y, size, size), (x + size / 2, y + size / 2), size * size, np.ones((size, size), bool),
                contour, on_edge, clump)


def image_result(path: str | Path, probabilities: Sequence[float], *, threshold: float = 0.5,
                 labels: Sequence[Label] | None = None, edge: Sequence[bool] | None = None,
                 warnings: Sequence[str] = (), size: int = 20, pitch: int = 30, first_id: int = 1) -> ImageResult:
    """An ``ok`` result with one cell per probability; labels follow the threshold unless given."""
    cells = []
    for i, p in enumerate(probabilities):
        label = labels[i] if labels is not None else ("parasitized" if p >= threshold else "uninfected")
        on_edge = bool(edge[i]) if edge is not None else False
        cells.append(CellResult(square_cell(first_id + i, 10 + pitch * i, 10, size, on_edge=on_edge), p, label))
    width = 20 + pitch * max(len(cells), 1) + size
    return ImageResult(path=Path(path), status="ok", image_shape=(size + 40, width), cells=tuple(cells),
                       threshold=threshold, warnings=tuple(warnings))


def error_result(path: str | Path, error: str = "not an image") -> ImageResult:
    return ImageResult(path=Path(path), status="error", error=error)
