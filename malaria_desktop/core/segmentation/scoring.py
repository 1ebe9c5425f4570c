"""One-to-one scoring of a segmentation against synthetic ground truth (tests and benchmarks share it).

Why stricter than "the centre is covered once": a merged clump of five cells covers five centres once
each, so that rule scores a clump as five found cells. Here a true red cell is found only when exactly
one counted detection covers its centre and that detection holds no other must-find centre; cells
marked ``clump`` are not counted, so their centres are misses (that is the price of leaving them out).
Occluded cells (mostly off-frame or under a burned-in label) are "don't care": a detection holding
only such a cell is neither right nor wrong; a detection holding no true red cell at all is a false
positive (scale-bar pieces, text, background gaps, slivers, white-cell fragments).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from malaria_desktop.core.results import SegmentationResult
from malaria_desktop.core.synthetic import SyntheticSmear


@dataclass(frozen=True)
class Score:
    must_find: int  # true red cells that count (not occluded)
    found: int  # of those, matched one-to-one
    detections: int  # counted detections (clump-marked ones left out)
    true_positive: int  # detections holding exactly one must-find centre
    false_positive: int  # detections holding no true red cell
    clumps: int  # detections marked clump (not counted)
    merged: int  # counted detections holding two or more must-find centres

    @property
    def recall(self) -> float:
        return self.found / max(self.must_find, 1)

    @property
    def precision(self) -> float:
        return self.true_positive / max(self.true_positive + self.false_positive + self.merged, 1)


def _anchor(c, w: int, h: int) -> tuple[int, int]:
    """The centre, or for a cell mostly off-frame a point just inside the frame on its side."""
    m = 0.2 * c.radius
    x = min(max(c.centroid[0], m), w - 1 - m)
    y = min(max(c.centroid[1], m), h - 1 - m)
    return min(max(int(round(x)), 0), w - 1), min(max(int(round(y)), 0), h - 1)


def score(smear: SyntheticSmear, result: SegmentationResult) -> Score:
    """One-to-one match of counted detections to true red-cell centres (see module docstring)."""
    h, w = result.image_shape
    counted = [c for c in result.cells if not getattr(c, "clump", False)]
    cover = np.zeros((h, w), np.uint8)
    ids = np.zeros((h, w), np.int32)
    for c in counted:
        x, y, bw, bh = c.bbox
        cover[y : y + bh, x : x + bw] += c.mask
        ids[y : y + bh, x : x + bw][c.mask] = c.cell_id
    must: dict[int, int] = {}
    dont: set[int] = set()
    hit_ids = []
    for t in smear.rbcs:
        x, y = _anchor(t, w, h)
        if cover[y, x] != 1:
            if not t.occluded:
                hit_ids.append(0)
            continue
        cid = int(ids[y, x])
        if t.occluded:
            dont.add(cid)
        else:
            must[cid] = must.get(cid, 0) + 1
            hit_ids.append(cid)
    found = sum(1 for cid in hit_ids if cid and must[cid] == 1)
    tp = sum(1 for v in must.values() if v == 1)
    merged = sum(1 for v in must.values() if v > 1)
    fp = sum(1 for c in counted if c.cell_id not in must and c.cell_id not in dont)
    return Score(len(hit_ids), found, len(counted), tp, fp, len(result.cells) - len(counted), merged)
