"""The technician's labels split into reviewed (seen) and accepted (unseen), and the confirmed calls.

Why apart from ``acceptance``: it reads the review state, which owns an ``Acceptance``; one direction only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from malaria_desktop.core.results import PARASITIZED, ImageResult, counted
from malaria_desktop.core.review.state import ReviewState, reviewed_result


@dataclass(frozen=True)
class ReviewTally:
    """The technician's labels split by whether the cell was seen, and the slide's parasitized calls."""

    reviewed: int  # labelled cells the technician saw (drawn cells included)
    accepted: int  # labelled without being shown
    parasitized: int  # counted cells whose (reviewed) label is parasitized
    parasitized_confirmed: int  # ... of which a person saw and labelled

    @property
    def unconfirmed_share(self) -> float:
        """Share of parasitized calls nobody confirmed (1.0 when there are none: nothing was checked)."""
        return 1.0 if self.parasitized == 0 else 1.0 - self.parasitized_confirmed / self.parasitized


def review_tally(results: Mapping[str, ImageResult], review: ReviewState, count_edge_cells: bool = True) -> ReviewTally:
    """Count reviewed vs accepted labels and the confirmed share of parasitized calls over a slide."""
    acceptance = review.acceptance
    edited = set(review.image_keys())
    reviewed = accepted = parasitized = confirmed = 0
    for key, result in results.items():
        if result.status != "ok":
            continue
        if key not in edited:  # the automatic calls, nothing labelled (cheap: no reviewed copy of the image)
            parasitized += counted(result, count_edge_cells)[1]
            continue
        labelled = set(review.overrides(key)) | set(review.added_cells(key))
        unseen = {c for c in labelled if acceptance.is_unseen(key, c)}
        accepted += len(unseen)
        reviewed += len(labelled) - len(unseen)
        for cr in reviewed_result(key, result, review).cells:
            if cr.label != PARASITIZED or cr.cell.clump or (cr.cell.on_edge and not count_edge_cells):
                continue
            parasitized += 1
            confirmed += cr.cell.cell_id in labelled and cr.cell.cell_id not in unseen
    return ReviewTally(reviewed, accepted, parasitized, confirmed)
