"""Review that is review: cells *accepted* without being shown are kept apart from cells a person looked at.

Why: select-all + accept confirms thousands of model calls in half a second; reporting them as "reviewed"
would make an unread slide look checked. The review state keeps one label per cell (so the counts are the
same either way); ``Acceptance`` records which of those labels were given to cells nobody saw, and
``core.review.tally.review_tally`` splits the technician's labels into *reviewed* (seen) and *accepted*
(unseen). Parasitized calls that were only accepted stay unconfirmed for the slide estimate (``core.report.estimate``).

Rules: labels set inside ``with acceptance.unseen():`` are unseen; any later edit of a cell outside it (or
``mark_seen``) makes it seen; undoing a label leaves nothing to report (the tally reads only labelled cells).
The record is saved with the review (``ReviewState.to_dict()["accepted_unseen"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

KEY = "accepted_unseen"


class Acceptance:
    """Which labelled cells were accepted without being shown, per image key."""

    def __init__(self, subscribe: Callable[[Callable[[Any], None]], Any] | None = None) -> None:
        """``subscribe``: the review state's, so its edits are followed (inside ``unseen()`` recorded unseen,
        outside made seen)."""
        self._unseen: dict[str, set[int]] = {}
        self._recording = False
        if subscribe is not None:
            subscribe(self._on_change)

    def _on_change(self, change: Any) -> None:  # a core.review.state.ReviewChange
        if change.kind in ("undo", "reset"):
            return
        cells = change.cells or ((change.image_key, change.cell_id),)
        if self._recording:
            for key, cell_id in cells:
                self._unseen.setdefault(key, set()).add(cell_id)
        else:
            self.mark_seen(cells)

    @contextmanager
    def unseen(self) -> Iterator[None]:
        """Labels set inside were given to cells the technician did not see (bulk accept)."""
        self._recording, before = True, self._recording
        try:
            yield
        finally:
            self._recording = before

    def mark_seen(self, cells: Iterable[tuple[str, int]]) -> None:
        """The technician saw these cells (e.g. accepted while on screen): they count as reviewed."""
        for key, cell_id in cells:
            ids = self._unseen.get(key)
            if ids is not None:
                ids.discard(cell_id)
                if not ids:
                    del self._unseen[key]

    def is_unseen(self, key: str, cell_id: int) -> bool:
        return cell_id in self._unseen.get(key, ())

    def forget_image(self, key: str) -> None:
        self._unseen.pop(key, None)

    def rename_image(self, old: str, new: str) -> None:
        if old in self._unseen:
            self._unseen[new] = self._unseen.pop(old)

    def to_dict(self) -> dict[str, Any]:
        return {KEY: {k: sorted(v) for k, v in sorted(self._unseen.items()) if v}} if self._unseen else {}

    def load(self, data: Mapping[str, Any]) -> None:
        """From a saved review (sessions from before this record have none: every label counts as seen)."""
        self._unseen = {str(key): {int(i) for i in ids} for key, ids in dict(data.get(KEY) or {}).items() if ids}
