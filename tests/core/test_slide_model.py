"""The headless slide model (issue 21): queue states, one undo history, settings, notifications; no Qt at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from malaria_desktop.core.results import ImageResult, Progress
from malaria_desktop.core.review.session import Session, SessionMetadata
from malaria_desktop.core.review.state import image_key
from malaria_desktop.core.settings import SettingsError
from malaria_desktop.core.slide import SlideEvent, SlideModel
from tests.helpers.factories import image_result

ROOT = Path(__file__).resolve().parents[2]


def _watched() -> tuple[SlideModel, list[SlideEvent]]:
    model = SlideModel()
    events: list[SlideEvent] = []
    model.subscribe(events.append)
    return model, events


def test_the_model_loads_without_qt() -> None:
    code = "import sys, malaria_desktop.core.slide; print(any(m.startswith('PySide6') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_queue_states_follow_progress_results_and_cancel(tmp_path: Path) -> None:
    model, events = _watched()
    a, b, c = (tmp_path / n for n in ("a.png", "b.png", "c.png"))
    assert model.add_paths([a, b, a, c]) == [a, b, c]
    assert [e.kind for e in events] == ["entries", "modified"] and model.pending_paths() == [a, b, c]
    events.clear()
    model.mark_progress(Progress(image_index=0, n_images=3, path=a, stage="segmenting"))
    assert model.entries[0].state == "analysing" and model.entries[0].detail == "Segmenting\u2026"
    assert events == [SlideEvent("entry", 0)]
    model.set_result(image_result(a, [0.9, 0.2, 0.7]))
    model.set_result(ImageResult(path=b, status="error", error="not a readable image"))
    assert [e.state for e in model.entries] == ["done", "error", "queued"] and model.entries[1].error
    assert model.counts().total.auto_cells == 3 and model.counts().total.auto_parasitized == 2
    model.mark_progress(Progress(image_index=2, n_images=3, path=c, stage="loading"))
    model.requeue_interrupted()
    assert model.entries[2].state == "queued" and model.entries[2].detail == ""
    assert model.remove_pending() == 1 and [e.path for e in model.entries] == [a, b]
    assert [Path(p) for p in model.session.image_paths] == [a, b]


def test_one_history_undoes_review_edits_and_image_removals_in_order(tmp_path: Path) -> None:
    model, events = _watched()
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    model.add_paths([a, b])
    model.set_result(image_result(a, [0.9, 0.2]))
    model.set_result(image_result(b, [0.1]))
    model.review.set_label(image_key(a), 2, "parasitized")  # step 1: a review edit
    assert any(e.kind == "review" and e.change is not None for e in events)
    assert model.remove_image(image_key(b)) and model.row_of(image_key(b)) == -1  # step 2: a removal
    assert image_key(b) not in model.results and model.can_undo and not model.can_redo
    model.set_result(image_result(b, [0.1]))  # a late result of the removed image is dropped
    assert model.row_of(image_key(b)) == -1
    assert model.undo() is not None and model.row_of(image_key(b)) == 1 and image_key(b) in model.results
    assert model.review.override(image_key(a), 2) == "parasitized"  # the removal came last: undone first
    model.undo()
    assert model.review.override(image_key(a), 2) is None and not model.can_undo
    assert model.undo() is None
    model.redo()
    model.redo()
    assert model.review.override(image_key(a), 2) == "parasitized" and model.row_of(image_key(b)) == -1
    assert model.redo() is None


def test_threshold_and_settings_changes_recount_and_are_announced(tmp_path: Path) -> None:
    model, events = _watched()
    a = tmp_path / "a.png"
    model.add_paths([a])
    model.set_result(image_result(a, [0.9, 0.6, 0.2]))
    events.clear()
    model.set_threshold(0.7)
    assert model.threshold == 0.7 and model.counts().total.auto_parasitized == 1
    assert [e.kind for e in events] == ["entry", "counts", "modified"]
    events.clear()
    model.set_threshold(0.7)  # unchanged: nothing announced
    assert events == []
    with pytest.raises(SettingsError):
        model.set_settings(rbc_per_ul=-1)
    model.set_settings(rbc_per_ul=4_000_000)
    assert [e.kind for e in events] == ["counts", "modified"]
    model.set_metadata(SessionMetadata(patient_id="P-1"))
    assert events[-2:] == [SlideEvent("metadata"), SlideEvent("modified")]


def test_loading_a_session_marks_missing_files_and_clears_the_history(tmp_path: Path) -> None:
    model, events = _watched()
    present = tmp_path / "here.png"
    present.write_bytes(b"x")
    gone = tmp_path / "gone.png"
    model.add_paths([present])
    model.set_result(image_result(present, [0.9]))
    assert model.remove_image(image_key(present)) and model.can_undo
    session = Session()
    session.set_result(image_result(present, [0.9]))
    session.image_paths.append(gone)
    assert model.load(session, tmp_path / "s.mdsession") == [gone]
    assert [e.state for e in model.entries] == ["done", "missing"] and not model.can_undo
    unsubscribe = model.subscribe(lambda event: None)
    unsubscribe()
    events.clear()
    model.review.set_label(image_key(present), 1, "uninfected")  # the new session's review is followed
    assert "review" in [e.kind for e in events] and model.can_undo
