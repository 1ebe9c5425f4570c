"""Red-blood-cell segmentation: a field image in, cells (contours, masks, flags) out.

Why a package: the engine calls the foreground, size-estimate, clump and non-cell steps, each its own module;
the options live apart so every step is typed against them without importing the engine (no cycle).
Other packages use only the names below.
"""

from malaria_desktop.core.segmentation.engine import coverage_maps, estimate_cell_diameter, segment_cells
from malaria_desktop.core.segmentation.options import SegmentationOptions
from malaria_desktop.core.segmentation.scoring import score
from malaria_desktop.core.segmentation.size_estimate import SizeEstimate

__all__ = [
    "SegmentationOptions",
    "SizeEstimate",
    "coverage_maps",
    "estimate_cell_diameter",
    "score",
    "segment_cells",
]
