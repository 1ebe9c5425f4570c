"""Autosave off the GUI thread (issue 11 item 8): the timer's saves encode and write a snapshot in a worker
thread, one write at a time, the newest snapshot wins, and closing flushes synchronously."""

from __future__ import annotations

import threading
from pathlib import Path

from malaria_desktop.core.review.session import Session, SessionMetadata, load_session
from malaria_desktop.qt.autosave import AutosaveStore, BackgroundSaver, snapshot


class SlowStore(AutosaveStore):
    """Records which thread wrote what; the first write blocks until the test releases it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.release = threading.Event()
        self.writes: list[tuple[str, str]] = []  # (thread name, patient id)
        self.writing = 0
        self.most_at_once = 0

    def save(self, session: Session) -> Path:
        self.writing += 1
        self.most_at_once = max(self.most_at_once, self.writing)
        self.release.wait(10)
        self.writes.append((threading.current_thread().name, session.metadata.patient_id))
        try:
            return super().save(session)
        finally:
            self.writing -= 1


def test_one_write_at_a_time_and_the_last_snapshot_wins(qtbot, tmp_path: Path) -> None:
    store = SlowStore(tmp_path)
    saver = BackgroundSaver(store)
    saved: list[str] = []
    saver.saved.connect(saved.append)
    saver.failed.connect(saved.append)
    saver.submit(Session(metadata=SessionMetadata(patient_id="v0")))
    qtbot.waitUntil(lambda: store.writing == 1, timeout=10_000)  # v0 is being written (blocked)
    for i in range(1, 5):  # waiting while v0 is written: each newer snapshot replaces the one before
        saver.submit(Session(metadata=SessionMetadata(patient_id=f"v{i}")))
    store.release.set()
    qtbot.waitUntil(lambda: len(saved) == 2, timeout=10_000)  # delivered on the GUI thread
    saver.wait()
    assert saved == [str(store.path)] * 2
    assert [who for _, who in store.writes] == ["v0", "v4"]
    assert store.most_at_once == 1
    assert all(name != threading.main_thread().name for name, _ in store.writes)
    assert load_session(store.path).metadata.patient_id == "v4"
    assert not saver.busy
    store.close()


def test_failure_is_reported_not_raised(qtbot, tmp_path: Path) -> None:
    store = AutosaveStore(tmp_path)
    saver = BackgroundSaver(store)
    bad = Session(metadata=SessionMetadata(patient_id="x" * 10_000_000))  # over the schema's text limit
    with qtbot.waitSignal(saver.failed, timeout=10_000) as failed:
        saver.submit(bad)
    assert failed.args[0]
    saver.wait()
    store.close()


def test_the_snapshot_does_not_follow_later_edits(tmp_path: Path) -> None:
    live = Session(metadata=SessionMetadata(patient_id="before"), image_paths=[Path("a.png")])
    live.review.set_label("a.png", 1, "parasitized")
    frozen = snapshot(live)
    live.metadata.patient_id = "after"
    live.image_paths.append(Path("b.png"))
    live.review.set_label("a.png", 2, "uninfected")
    assert frozen.metadata.patient_id == "before" and frozen.image_paths == [Path("a.png")]
    assert frozen.review.overrides("a.png") == {1: "parasitized"}


def test_the_timer_writes_in_the_background_and_close_flushes(qtbot, make_window) -> None:
    window = make_window()
    sessions = window.sessions
    threads: list[str] = []
    real_save = sessions.store.save
    sessions.store.save = lambda s: (threads.append(threading.current_thread().name), real_save(s))[1]
    window.document.add_paths([Path("a.png")])
    window.document.session.metadata.patient_id = "timer"
    with qtbot.waitSignal(window.autosaved, timeout=10_000):
        window.document.modified.emit()  # the debounce timer fires; the write happens in the saver's thread
    assert threads == ["autosave-writer"]
    assert load_session(sessions.store.path).metadata.patient_id == "timer"
    window.document.add_paths([Path("b.png")])  # modified: the timer starts again, close comes first
    path = sessions.store.path
    window.close()  # pending change written before close returns, then archived as the last closed autosave
    closed = sessions.store.folder / "closed" / path.name
    assert [p.name for p in load_session(closed).image_paths] == ["a.png", "b.png"]
