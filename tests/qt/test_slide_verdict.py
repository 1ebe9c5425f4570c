"""The summary panel states the slide's result in words, automatic and reviewed side by side, and never
calls bulk-accepted cells reviewed."""

from __future__ import annotations

from tests.qt.waits import wait_idle


def test_panel_shows_both_verdicts_and_accepted_apart(qtbot, make_window, smear_dir) -> None:
    window = make_window()
    window.document.session.model = {**window.document.session.model,
                                     "error_rates": {"tp": 86, "fn": 14, "fp": 1, "tn": 199}}
    window.open_paths(sorted(smear_dir.glob("*.png"))[:1])
    wait_idle(qtbot, window)
    window.document.session.model = {**window.document.session.model,  # the model load may have replaced it
                                     "error_rates": {"tp": 86, "fn": 14, "fp": 1, "tn": 199}}
    doc = window.document
    key, result = next(iter(doc.results.items()))
    doc.review.set_label(key, result.cells[0].cell.cell_id, result.cells[0].label)  # looked at
    with doc.review.acceptance.unseen(), doc.review.batch():
        for cr in result.cells[1:]:
            doc.review.set_label(key, cr.cell.cell_id, cr.label)
    window.figures._update()
    panel = window.figures.panel
    text = panel.verdicts.text()
    assert text.startswith("Automatic: ") and "\nReviewed: " in text
    assert "Indeterminate" in text  # one synthetic field: fewer cells than the minimum count
    note = panel.reviewed_note.text()
    assert "You reviewed 1 cell;" in note and f"{len(result.cells) - 1:,} more accepted without being shown" in note
