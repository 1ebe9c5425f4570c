"""CountCache (the slide list, progress and summary ask it after every result and key press) must equal
``core.review.state.reviewed_counts`` exactly, while recounting only what changed."""

from __future__ import annotations

from malaria_desktop.core.review import state as review_mod
from malaria_desktop.core.review.state import ReviewState, reviewed_counts
from malaria_desktop.core.slide.count_cache import CountCache
from tests.core.test_review import make_result


def test_counts_equal_reviewed_counts_through_edits_replacements_and_removals(monkeypatch) -> None:
    results = {f"f{i}.png": make_result(f"f{i}.png", [0.1, 0.9, 0.7, 0.2][: 1 + i % 4]) for i in range(12)}
    review, cache = ReviewState(), CountCache()
    assert cache.counts(results, review, True) == reviewed_counts(results, review)
    review.set_label("f3.png", 1, "uninfected")
    review.set_label("f5.png", 0, "parasitized")
    results["f7.png"] = make_result("f7.png", [0.95, 0.96])  # a re-analysed image: a new result object
    del results["f2.png"]
    calls: list[str] = []
    real = review_mod.reviewed_counts
    monkeypatch.setattr("malaria_desktop.core.slide.count_cache.reviewed_counts",
                        lambda r, *a, **k: (calls.extend(r), real(r, *a, **k))[1])
    for edges in (True, True, False):
        assert cache.counts(results, review, edges) == reviewed_counts(results, review, count_edge_cells=edges)
    assert sorted(calls[:3]) == ["f3.png", "f5.png", "f7.png"]  # only what changed was recounted
    assert len(calls) == 3 + len(results)  # the same state again: nothing; the other edge rule: everything

