"""One verdict palette (issue 21): a cell is the same colour on screen and in the exported annotated image."""

from __future__ import annotations

from malaria_desktop.core.report.annotate import COLORS
from malaria_desktop.core.results import VERDICT_COLOURS
from malaria_desktop.qt.overlays import COLOURS


def test_window_and_export_draw_verdicts_in_the_same_colours() -> None:
    assert set(COLORS) == set(COLOURS) == set(VERDICT_COLOURS) == {"parasitized", "uninfected", "not_cell"}
    for label, rgb in COLORS.items():
        assert COLOURS[label].getRgb()[:3] == rgb
    assert COLORS["parasitized"] == (0xE0, 0x10, 0x2A)  # the screen's red, kept (screenshots unchanged)
