"""The printable report's words and figures, without Qt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from malaria_desktop.core.report.printable import build_report, figure_rows, flag_words, rbc_assumption, report_html
from malaria_desktop.core.review.session import Session, SessionMetadata
from tests.core.test_review import make_result


def test_words() -> None:
    assert "5,000,000" in rbc_assumption(5_000_000) and "default" in rbc_assumption(5_000_000)
    assert "entered in Settings" in rbc_assumption(4_200_000)
    assert flag_words("hyperparasitaemia", 5) == "Hyperparasitemia: parasitemia at or above 5 %."
    assert "2,000" in flag_words("below_2000_target", 5)


def test_html_has_every_part() -> None:
    session = Session(metadata=SessionMetadata("P<1>", "S1", "Op", "2026-11-30", ""))
    session.set_result(make_result("/x/a.png", [0.9, 0.2]))
    report = build_report(session, reviewer="Rev", load=lambda p: np.zeros((100, 120, 3), np.uint8),  # its size
                          printed_at=datetime(2026, 12, 1, 8, 0))
    page = report_html(report)
    assert "P&lt;1&gt;" in page and "Rev" in page and "2026-12-01 08:00" in page  # escaped, no injection
    assert "thumb/0.png" in page and "0.90" in page and "signature" in page and "Intended use" in page
    assert "50.00 %" in page and "2,500,000" in page
    assert report.thumbs[0].image_name == "a.png" and report.thumbs[0].rgb.shape == (64, 64, 3)
    assert Path(report.thumbs[0].image_name).suffix == ".png"


def test_warnings_are_grouped_by_text() -> None:
    from dataclasses import replace

    session = Session()
    for name in ("a", "b", "c"):
        session.set_result(replace(make_result(f"/x/{name}.png", [0.9]), warnings=("blurred",)))
    report = build_report(session, load=lambda p: np.zeros((100, 200, 3), np.uint8))
    assert report.warnings == ("blurred \u2013 3 images: a.png, b.png, c.png",)


def test_verdicts_side_by_side_and_accepted_cells_are_not_reviewed() -> None:
    session = Session(model={"name": "m", "error_rates": {"tp": 86, "fn": 14, "fp": 1, "tn": 199}})
    session.set_result(make_result("/x/a.png", [0.9, 0.2, 0.1]))
    key = next(iter(session.results))
    session.review.set_label(key, 0, "parasitized")  # seen
    with session.review.acceptance.unseen():
        session.review.set_label(key, 1, "uninfected")
        session.review.set_label(key, 2, "uninfected")
    report = build_report(session, load=lambda p: np.zeros((100, 120, 3), np.uint8))
    result_row = [row for row in figure_rows(report) if row[0] == "Slide result"]
    assert result_row and all(text.startswith("Indeterminate") for text in result_row[0][1:])  # 3 cells
    page = report_html(report)
    assert "reviewed 1 cell(s); 2 more were accepted without being shown (not reviewed)" in page
    assert (report.edits, report.accepted) == (1, 2)
