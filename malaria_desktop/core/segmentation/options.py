"""The segmentation's tunable parameters, in a module of their own.

Why apart from the engine: the foreground and size-estimate steps are typed against these options while the
engine calls those steps; with the options here, the three modules import in one direction (no cycle).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentationOptions:
    """Overridable parameters; areas are fractions of the typical RBC area of the image."""

    cell_diameter_px: float | None = None  # typical RBC diameter in original pixels; None = estimate
    smallest_diameter_px: float = 40.0  # smallest typical RBC diameter to expect (sets the estimate's scale)
    work_diameter_px: float = 32.0  # cells are rescaled to about this size for the heavy work
    min_work_diameter_px: float = 20.0  # never go coarser than this, even for huge fields
    max_work_pixels: int = 2_500_000  # cap on the working image size (speed on 5312x2988 with small cells)
    threshold_scale: float = 1.0  # >1 stricter, <1 looser foreground threshold
    min_area_frac: float = 0.25  # smaller objects are platelets or debris
    crowded_min_area_frac: float = 0.5  # on crowded fields, inner segments smaller than this are not cells
    max_area_frac: float = 3.5  # bigger objects are WBCs or clumps that could not be split
    open_frac: float = 0.12  # opening radius (x diameter) that removes thin structures
    fill_holes_frac: float = 0.6  # enclosed holes smaller than this are pale centres: filled ...
    fill_holes_solidity: float = 0.96  # ... if at least this convex: pale centres are round, the gaps
    #   between packed cells are concave triangles (solidity ~0.4) and must stay open so the distance
    #   transform can split the cells around them (was 0 = always, before dense fields were tested)
    peak_window_frac: float = 0.45  # seeds closer than about this x diameter merge into one
    reject_non_cells: bool = True  # drop glass gaps, burned-in labels, border slivers, WBC pieces (non_cells.py)
    min_edge_area_frac: float = 0.3  # border slivers smaller than this x typical RBC area are dropped
    mark_clumps: bool = True  # segments still holding several cells are kept but marked ``clump``
    merge_fragments: bool = True  # glue a small segment to its neighbour when together they make one convex cell
    pale_solidity: float = 0.8  # a pale blob this convex (or more) is a cell's pale centre and seeds it
    pallor_weight: float = 1.0  # seed score = distance transform x (1 + this x pale-centre evidence)
    gap_od_frac: float = 0.7  # pixels of a sharper OD copy below this x the threshold are glass gaps (0 = off)
    fill_holes_min: float = 0.04  # crowded fields: holes smaller than this x typical area are glass gaps
    fill_holes_always: float = 0.005  # holes under this fraction of the fill limit are filled whatever their shape
    split_neck_ratio: float = 1.1  # < 1: re-merge splits whose neck is wider than this x the thinner
    #   part (keeps elongated cells whole, but under-splits real pairs; off by default)
    drop_wbc: bool = True
    keep_wbc_regions: bool = False  # True: regions grown from white-cell nuclei and mostly-dark regions are kept
    #   (still split from their neighbours) for the not-a-cell model to judge; dropping them by rule also
    #   dropped parasite-filled red cells (schizonts, gametocytes). The pipeline turns it on with that model.
    nucleus_od_factor: float = 2.2  # pixels this many times the median cell OD look like nuclei
    wbc_nucleus_frac: float = 0.3  # a dark compact blob this big (x typical RBC area) is a WBC nucleus
    blur_threshold: float = 3.3  # sharpness (see _sharpness) below this means "blurred"
    few_cells: int = 10  # fewer cells than this triggers a warning
