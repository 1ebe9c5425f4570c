"""Issue 20: after a result or a key the counts, verdict and density show at once, and the slide estimate's
95 % interval (the window's longest stall) is computed in a worker thread; what is finally shown is what
computing everything on the GUI thread shows, and an older request's interval never replaces a newer one."""

from __future__ import annotations

from tests.qt.waits import wait_idle

RATES = {"tp": 86, "fn": 14, "fp": 1, "tn": 199}


def _texts(window) -> list[str]:
    panel = window.summary
    return [lab.text() for pair in panel.rows.values() for lab in pair] + [panel.verdicts.text()]


def _analysed(qtbot, make_window, smear_dir):
    window = make_window()
    window.open_paths(sorted(smear_dir.glob("*.png"))[:1])
    wait_idle(qtbot, window)
    window.document.session.model = {**window.document.session.model, "error_rates": RATES}
    window.document.set_settings(min_cells=1)  # one synthetic field: a verdict, not "indeterminate"
    qtbot.waitUntil(lambda: not window.figures.pending, timeout=10_000)
    return window


def test_counts_at_once_interval_from_the_worker_equal_to_the_gui_threads(qtbot, make_window, smear_dir) -> None:
    window = _analysed(qtbot, make_window, smear_dir)
    doc = window.document
    key, result = next(iter(doc.results.items()))
    cell = next(c for c in result.cells if c.label == "uninfected" and not c.cell.on_edge)
    doc.review.set_label(key, cell.cell.cell_id, "parasitized")  # countsChanged: the quick path
    reviewed_cells = window.summary.rows["parasitized"][1].text()
    assert reviewed_cells == f"{doc.counts().total.reviewed_parasitized:,}"  # at once
    assert window.figures.pending  # the interval is on its way
    qtbot.waitUntil(lambda: not window.figures.pending, timeout=10_000)
    from_worker = _texts(window)
    assert "Reviewed: " in from_worker[-1] and "being computed" not in from_worker[-1]
    window.figures.update()  # everything on the GUI thread
    assert _texts(window) == from_worker


def test_only_the_newest_requests_interval_is_shown(qtbot, make_window, smear_dir, monkeypatch) -> None:
    window = _analysed(qtbot, make_window, smear_dir)
    doc, figures = window.document, window.figures
    key, result = next(iter(doc.results.items()))
    cells = [c for c in result.cells if c.label == "uninfected" and not c.cell.on_edge][:3]
    jobs: list[int] = []
    real_submit = figures._submit
    monkeypatch.setattr(figures, "_submit", lambda job: (jobs.append(job[0]), real_submit(job))[1])
    for cell in cells:  # three keys before the event loop runs again: one job in flight, the newest queued
        doc.review.set_label(key, cell.cell.cell_id, "parasitized")
    shows: list[int] = []
    real_show = figures._show
    monkeypatch.setattr(figures, "_show", lambda *args: (shows.append(1), real_show(*args))[1])
    qtbot.waitUntil(lambda: not figures.pending, timeout=10_000)
    assert len(jobs) == 2 and jobs[1] == figures._request  # the second key's job was never run
    assert len(shows) == 1  # the first job's interval was dropped: only the newest one's is shown
    final = _texts(window)
    figures.update()
    assert _texts(window) == final
