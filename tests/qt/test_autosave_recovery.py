"""Recovery always has a file (issue 24, high): the new autosave is written beside the old one and only then
rotated; a failed save keeps the last good file offered; generations never fill the disk.

The audit: each save renamed the current file to ``.1`` before writing the new one, so a kill in that window
left nothing to offer (5/5 kills), and on a nearly full disk every save after the third failed with the
current file already gone.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from malaria_desktop.core.review.session import Session, SessionError, SessionMetadata, session_to_json
from malaria_desktop.qt import autosave
from malaria_desktop.qt.autosave import AutosaveStore

ROOT = Path(__file__).resolve().parents[2]
PATHS = [Path(f"slide/field_{i:05d}.png") for i in range(1500)]  # ~60 KB of JSON: a write takes a while


def version(n: int) -> Session:
    return Session(metadata=SessionMetadata(patient_id=f"v{n}"), image_paths=PATHS)


def offered_after_crash(folder: Path) -> tuple[list[Path], int | None]:
    """What a new instance offers (as after a crash of the writer) and the version it would recover."""
    other = AutosaveStore(folder)
    try:
        crashed = other.crashed()
        latest = other.latest()
        got = int(other.load(latest).metadata.patient_id[1:]) if latest is not None else None
        return crashed, got
    finally:
        for path in crashed:
            other.settle(path, "discarded")
        other.close()


def orphan(store: AutosaveStore) -> None:
    """Let go of the lock as a killed process would (the files stay exactly as they are)."""
    store._lock.unlock()


# ---------------------------------------------------------------- interrupted at every step of a save
class Died(BaseException):
    """The process ends here (nothing after this call runs; no handler catches it)."""


def dying(real, calls: list[int], at: int):
    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at:
            raise Died
        return real(*args, **kwargs)
    return call


def test_a_save_interrupted_at_any_step_leaves_the_last_good_version(tmp_path: Path, monkeypatch) -> None:
    """Every rename/link of a save, in turn, is where the process dies: the newest whole version is offered.
    (``autosave.os`` is ``os``: the temp file's rename inside the atomic write is one of the steps.)"""
    real_replace, real_link = os.replace, os.link
    step = 0
    while True:
        folder = tmp_path / f"case{step}"
        store = AutosaveStore(folder)
        for n in range(1, 5):
            store.save(version(n))  # generations .1 .. .3 in place
        calls = [0]
        monkeypatch.setattr(autosave.os, "replace", dying(real_replace, calls, step + 1))
        monkeypatch.setattr(autosave.os, "link", dying(real_link, calls, step + 1))
        try:
            store.save(version(5))
            finished = True
        except Died:
            finished = False
        finally:
            monkeypatch.setattr(autosave.os, "replace", real_replace)
            monkeypatch.setattr(autosave.os, "link", real_link)
        orphan(store)
        crashed, got = offered_after_crash(folder)
        assert [p.name for p in crashed] == [store.path.name], f"step {step}: nothing offered"
        assert got in (4, 5) and (got == 5 or not finished), f"step {step}: recovered v{got}"
        if finished:
            break
        step += 1
    assert step >= 4  # the rotation's renames, the link and the final rename were each interrupted


KILLED_WRITER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from malaria_desktop.core.review.session import Session, SessionMetadata
from malaria_desktop.qt.autosave import AutosaveStore
paths = [Path(f"slide/field_{i:05d}.png") for i in range(1500)]
store = AutosaveStore(Path(sys.argv[2]))
n = 0
while True:
    n += 1
    store.save(Session(metadata=SessionMetadata(patient_id=f"v{n}"), image_paths=paths))
    print("SAVED", n, flush=True)
"""


@pytest.mark.slow
def test_kill_during_autosave_writes_twenty_times(tmp_path: Path) -> None:
    """kill -9 at a random moment while the writer saves back to back: the last good file, every time."""
    rng = random.Random(24)
    for run in range(20):
        folder = tmp_path / f"run{run}"
        child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(ROOT), str(folder)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        wanted, last = rng.randint(1, 6), 0
        for line in child.stdout:
            last = int(line.split()[1])
            if last >= wanted:
                break
        time.sleep(rng.uniform(0, 0.03))  # land inside one of the following writes
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert last >= 1, child.stderr.read() if child.stderr else ""
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        crashed, got = offered_after_crash(folder)
        assert len(crashed) == 1, f"run {run}: nothing offered after the kill"
        assert got is not None and got >= last, f"run {run}: v{got} offered, v{last} had been saved"


# ---------------------------------------------------------------- a nearly full disk
class NearlyFullDisk:
    """``save_session`` on a disk with ``budget`` bytes for the autosave folder (hard links counted once)."""

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder, self.budget, self.failures = folder, budget, 0
        self.real = autosave.save_session

    def used(self) -> int:
        seen = {p.stat().st_ino: p.stat().st_size for p in self.folder.rglob("*") if p.is_file()}
        return sum(seen.values())

    def __call__(self, session: Session, path: Path) -> Path:
        if self.used() + len(session_to_json(session).encode()) > self.budget:
            self.failures += 1
            raise SessionError("Could not save: No space left on device.") from OSError(errno.ENOSPC, "full")
        return self.real(session, path)


def test_nearly_full_disk_drops_generations_not_the_autosave(tmp_path: Path, monkeypatch) -> None:
    store = AutosaveStore(tmp_path)
    size = len(session_to_json(version(1)).encode())
    disk = NearlyFullDisk(tmp_path, int(2.5 * size))  # room for the current file and one new version
    monkeypatch.setattr(autosave, "save_session", disk)
    for n in range(1, 12):
        store.save(version(n))  # never fails: old generations give their space back
        assert int(store.load(store.path).metadata.patient_id[1:]) == n
        assert disk.used() <= disk.budget
    assert disk.failures > 0  # the disk did fill up; the generations were dropped, not the save
    assert not autosave._staged(store.path).exists()
    orphan(store)
    assert offered_after_crash(tmp_path)[1] == 11


def test_a_save_the_disk_cannot_hold_keeps_the_last_good_file_offered(tmp_path: Path, monkeypatch) -> None:
    store = AutosaveStore(tmp_path)
    for n in range(1, 4):
        store.save(version(n))
    disk = NearlyFullDisk(tmp_path, 1)  # the disk is full: no save fits, whatever is dropped
    monkeypatch.setattr(autosave, "save_session", disk)
    for n in range(4, 8):
        with pytest.raises(SessionError, match="No space"):
            store.save(version(n))
    assert store.path.is_file() and int(store.load(store.path).metadata.patient_id[1:]) == 3
    orphan(store)
    crashed, got = offered_after_crash(tmp_path)
    assert [p.name for p in crashed] == [store.path.name] and got == 3


def test_generations_stay_bounded_and_leave_no_staged_file(tmp_path: Path) -> None:
    store = AutosaveStore(tmp_path)
    for n in range(1, 10):
        store.save(version(n))
    names = sorted(p.name for p in tmp_path.glob("*.mdsession"))
    assert len(names) == 1 + autosave.GENERATIONS and not any(".next." in n for n in names)
    assert [int(store.load(autosave._generation(store.path, k)).metadata.patient_id[1:])
            for k in range(1 + autosave.GENERATIONS)] == [9, 8, 7, 6]
    store.close()


@pytest.mark.parametrize("left", [".next", ".1"])
def test_a_lone_staged_file_or_generation_is_offered(tmp_path: Path, left: str) -> None:
    """A writer killed before its first rename (or an older version's rotation) left no current file."""
    from malaria_desktop.core.review.session import save_session

    save_session(version(7), tmp_path / f"autosave-20260101-000000-1-aa{left}.mdsession")
    crashed, got = offered_after_crash(tmp_path)
    assert [p.name for p in crashed] == ["autosave-20260101-000000-1-aa.mdsession"] and got == 7
    assert (tmp_path / "discarded" / "autosave-20260101-000000-1-aa.mdsession").is_file()
    assert not list(tmp_path.glob("*.mdsession"))


def test_a_crash_is_offered_even_when_no_lock_file_can_be_written(tmp_path: Path) -> None:
    """On a full disk the next start cannot write the crashed file's lock: it is offered all the same (a
    lock another live instance holds still keeps it out). ``benchmarks/autosave_full_disk.py`` does this on
    a real full file system."""
    from malaria_desktop.core.review.session import save_session

    class NoSpaceLock(autosave.QLockFile):
        """QLockFile on a full disk: tryLock fails and says why (not 'held by another process')."""

        def tryLock(self, timeout: int = 0) -> bool:  # noqa: N802 - Qt's name
            return False

        def error(self) -> autosave.QLockFile.LockError:
            return autosave.QLockFile.LockError.UnknownError

    class HeldLock(NoSpaceLock):
        def error(self) -> autosave.QLockFile.LockError:
            return autosave.QLockFile.LockError.LockFailedError

    save_session(version(3), tmp_path / "autosave-20260101-000000-1-aa.mdsession")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autosave, "QLockFile", NoSpaceLock)
        crashed, got = offered_after_crash(tmp_path)
    assert [p.name for p in crashed] == ["autosave-20260101-000000-1-aa.mdsession"] and got == 3
    save_session(version(4), tmp_path / "autosave-20260101-000000-1-bb.mdsession")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autosave, "QLockFile", HeldLock)
        assert offered_after_crash(tmp_path) == ([], None)  # alive elsewhere: not offered
    assert (tmp_path / "autosave-20260101-000000-1-bb.mdsession").is_file()
