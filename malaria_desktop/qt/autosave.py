"""Where the window autosaves: one file per running instance, locked, with a few generations kept.

Why (issue 13 items 1 and 4): all instances shared one autosave file; a second start moved the first
instance's live file aside, then the last writer won, and crash data survived a single start and was
never offered. Now:

- each instance writes ``autosave/autosave-<start>-<pid>-<token>.mdsession`` and holds a ``QLockFile``
  beside it for as long as it runs; the previous versions are kept as ``.1`` (``.2``, ``.3``), so a
  damaged latest file still leaves the one before;
- at start, files whose lock is free belong to an instance that crashed: ``crashed()`` lists them (the
  window asks whether to recover them), and their locks are taken so a third instance cannot recover
  the same data at the same time;
- a clean close moves the instance's file to ``autosave/closed/`` (still offered by File > Recover);
  recovered and discarded files are moved to ``recovered/`` and ``discarded/``. Each of those folders
  keeps its newest ``KEEP`` files, so nothing grows without bound and nothing is lost at once.

Recovery always has a file (issue 24, high): each save used to rename the current file to ``.1`` before
writing the new one, so a kill in that window left nothing to offer (5/5 kills), and on a nearly full disk
every save after the third failed with the current file already moved away. Now a save writes the new
version whole beside the old one (``<name>.next.mdsession``, itself written atomically), then shifts the
generations (``.1`` becomes a hard link to the current file: no copy, no extra space) and only then renames
the new version over the current one. At every instant the newest whole version is on disk under a name
recovery reads (``.next``, the current file, ``.1`` ..., in that order). A save that fails leaves the
last good file in place and offered; when the disk is full the old generations (never the current file)
are dropped and the save tried once more, so generations never fill the disk.

The location belongs to the GUI (the CLI never autosaves): ``autosave_dir()`` is here, not in core.

Writing never blocks the window (issue 11 item 8): encoding a slide with new results took 160-630 ms on
the GUI thread. ``snapshot()`` copies what the GUI may still change (cheap: results are immutable and
shared), and ``BackgroundSaver`` encodes and writes it in a worker thread, one write at a time; a snapshot
submitted while one is written waits, and a newer one replaces it (the last one wins).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import secrets
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal, SignalInstance

from malaria_desktop import paths
from malaria_desktop.core.atomic import clean_stale_temps_in, fsync_dir
from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.review.session import (
    SESSION_SUFFIX,
    Session,
    SessionError,
    load_session,
    save_session,
)
from malaria_desktop.core.review.state import ReviewState

PREFIX = "autosave-"
GENERATIONS = 3  # previous versions kept beside the current one
KEEP = 10  # files kept in closed/, recovered/, discarded/


def autosave_dir() -> Path:
    """The per-user autosave folder (created; user data dir, never the program folder)."""
    folder = paths.user_data_dir() / "autosave"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _generation(path: Path, n: int) -> Path:
    return path if n == 0 else path.with_name(f"{path.stem}.{n}{SESSION_SUFFIX}")


def _staged(path: Path) -> Path:
    """The new version, complete on disk, before it is renamed over ``path`` (newer than ``path``)."""
    return path.with_name(f"{path.stem}.next{SESSION_SUFFIX}")


def _family(path: Path) -> list[Path]:
    """Every name a version of ``path`` may have, newest first: staged, current, .1 .. .GENERATIONS."""
    return [_staged(path)] + [_generation(path, n) for n in range(GENERATIONS + 1)]


def _main_of(path: Path) -> Path | None:
    """The current-file name a family member belongs to (``x.2.mdsession`` -> ``x.mdsession``)."""
    stem = path.name[: -len(SESSION_SUFFIX)] if path.name.endswith(SESSION_SUFFIX) else ""
    base, _, tag = stem.rpartition(".")
    if base and (tag == "next" or (tag.isdigit() and 1 <= int(tag) <= GENERATIONS)):
        stem = base
    candidate = path.with_name(stem + SESSION_SUFFIX)
    return candidate if stem and _is_main(candidate) else None


def _newest_member(path: Path) -> Path | None:
    return next((p for p in _family(path) if p.is_file()), None)


def _disk_full(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _lock_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.lock")


def _is_main(path: Path) -> bool:
    """``autosave-<id>.mdsession`` (not a ``.1`` generation) or a file from before per-instance files."""
    stem = path.name[: -len(SESSION_SUFFIX)]
    return (stem.startswith(PREFIX) and "." not in stem) or stem in ("autosave", "previous-autosave")


class AutosaveStore:
    """This instance's autosave file, its lock and generations; finds other instances' crash leftovers."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else autosave_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        token = f"{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}-{secrets.token_hex(3)}"
        self.path = self.folder / f"{PREFIX}{token}{SESSION_SUFFIX}"
        self._lock = QLockFile(str(_lock_path(self.path)))
        self._lock.setStaleLockTime(0)  # only a dead owner makes a lock stale, never its age
        self._lock.tryLock(0)
        self._held: dict[Path, QLockFile] = {}  # crash leftovers this instance is deciding about
        clean_stale_temps_in(self.folder)  # half-written files of instances killed mid-save
        self._drop_stale_locks()

    # ------------------------------------------------------------------ this instance
    def save(self, session: Session) -> Path:
        """Write the session (SessionError on failure, the last good file kept); the new version is whole on
        disk before the previous ones shift to .1 .. .GENERATIONS (module docstring)."""
        staged = _staged(self.path)
        try:
            save_session(session, staged)
        except SessionError as exc:
            if not (_disk_full(exc) and self._remove_generations(self.path)):
                raise
            save_session(session, staged)  # old generations gave their space back: once more
        self._rotate()
        os.replace(staged, self.path)
        fsync_dir(self.folder)
        return self.path

    def _rotate(self) -> None:
        """Shift .1 .. to .2 ..; .1 becomes a second name of the current file (renamed over just after)."""
        if not self.path.is_file():
            return
        for n in range(GENERATIONS, 1, -1):
            older = _generation(self.path, n - 1)
            if older.is_file():
                os.replace(older, _generation(self.path, n))
        first = _generation(self.path, 1)
        with contextlib.suppress(OSError):
            first.unlink()
        with contextlib.suppress(OSError):  # no hard links here (FAT, some shares): one generation fewer
            os.link(self.path, first)

    def close(self) -> None:
        """Clean exit: keep the last autosave in closed/ (File > Recover), drop generations, unlock."""
        self._archive(self.path, "closed")
        self._remove_generations(self.path)
        for lock in self._held.values():
            lock.unlock()
        self._held.clear()
        self._lock.unlock()
        with contextlib.suppress(OSError):
            _lock_path(self.path).unlink()

    # ------------------------------------------------------------------ other instances' files
    def crashed(self) -> list[Path]:
        """Autosaves whose instance is gone (newest first); their locks are now held by this instance."""
        found = []
        mains = {_main_of(p) for p in self.folder.glob(f"*{SESSION_SUFFIX}")}  # a lone .next or .1 counts too
        for path in sorted(p for p in mains if p is not None):
            if path == self.path or path in self._held:
                continue
            lock = QLockFile(str(_lock_path(path)))
            lock.setStaleLockTime(0)
            # free, or stale (its process is gone); or the lock file cannot even be written (a full disk,
            # issue 24): nobody can hold it then, and the crash must still be offered
            if lock.tryLock(0) or lock.error() != QLockFile.LockError.LockFailedError:
                self._held[path] = lock
                found.append(path)
        return sorted(found, key=_mtime, reverse=True)

    def latest(self) -> Path | None:
        """The newest recoverable file: a crashed instance's, else the last cleanly closed one."""
        candidates = list(self._held) or sorted((self.folder / "closed").glob(f"*{SESSION_SUFFIX}"))
        existing = [p for p in candidates if _newest_member(p) is not None]
        return max(existing, key=_mtime) if existing else None

    def load(self, path: Path) -> Session:
        """The newest readable generation of ``path`` (SessionError when none can be read)."""
        error: MalariaDesktopError | None = None
        for candidate in _family(path):
            if candidate.is_file():
                try:
                    return load_session(candidate)
                except MalariaDesktopError as exc:
                    error = error or exc
        if error is not None:
            raise error
        return load_session(path)  # raises the 'does not exist' SessionError

    def settle(self, path: Path, outcome: str) -> None:
        """``outcome`` = "recovered" or "discarded": move the file (and its generations) out of the way."""
        if path.parent == self.folder / "closed":
            if outcome == "discarded":
                self._archive(path, "discarded")
            return
        self._archive(path, outcome)
        self._remove_generations(path)
        lock = self._held.pop(path, None)
        if lock is not None:
            lock.unlock()
        with contextlib.suppress(OSError):
            _lock_path(path).unlink()

    # ------------------------------------------------------------------ helpers
    def _drop_stale_locks(self) -> None:
        """Lock files of instances that died before their first autosave (nothing to recover)."""
        for lock_path in self.folder.glob(f"{PREFIX}*.lock"):
            if lock_path == _lock_path(self.path) or _newest_member(lock_path.with_suffix(SESSION_SUFFIX)):
                continue
            lock = QLockFile(str(lock_path))
            lock.setStaleLockTime(0)
            if lock.tryLock(0):
                lock.unlock()  # removes the file

    def _archive(self, path: Path, kind: str) -> None:
        """Move the newest version of ``path`` (staged, current or a generation) to ``kind/<name>``."""
        newest = _newest_member(path)
        if newest is None:
            return
        target = self.folder / kind
        target.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            os.replace(newest, target / path.name)
        for old in sorted(target.glob(f"*{SESSION_SUFFIX}"), key=_mtime)[:-KEEP]:
            with contextlib.suppress(OSError):
                old.unlink()

    @staticmethod
    def _remove_generations(path: Path) -> bool:
        """Remove the older versions (and a staged one) of ``path``, never ``path``; True if any went."""
        removed = False
        for victim in [_staged(path)] + [_generation(path, n) for n in range(1, GENERATIONS + 1)]:
            with contextlib.suppress(OSError):
                victim.unlink()
                removed = True
        return removed


def _mtime(path: Path) -> float:
    newest = _newest_member(path)
    try:
        return newest.stat().st_mtime if newest is not None else 0.0
    except OSError:
        return 0.0


def snapshot(session: Session) -> Session:
    """A copy the GUI can go on editing past: containers copied, results shared (ImageResult is frozen)."""
    return Session(metadata=replace(session.metadata), image_paths=list(session.image_paths),
                   results=dict(session.results), review=ReviewState.from_dict(session.review.to_dict()),
                   settings=session.settings, model=copy.deepcopy(session.model))


class BackgroundSaver(QObject):
    """Writes session snapshots to an ``AutosaveStore`` in a worker thread, one write at a time.

    ``saved(path)`` / ``failed(message)`` arrive on the GUI thread (queued signals); the thread touches
    no widget and no live document, only the snapshot it was given.
    """

    saved = Signal(str)
    failed = Signal(str)

    def __init__(self, store: AutosaveStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._lock = threading.Lock()
        self._pending: Session | None = None
        self._thread: threading.Thread | None = None

    def submit(self, session: Session) -> None:
        """Write ``session`` (a snapshot) soon; a snapshot still waiting is replaced by this newer one."""
        with self._lock:
            self._pending = session
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="autosave-writer")
                self._thread.start()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None

    def wait(self) -> None:
        """Block until nothing is written or waiting (before a synchronous save, and when closing)."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                session, self._pending = self._pending, None
                if session is None:
                    self._thread = None
                    return
            try:
                path = self._store.save(session)
            except Exception as exc:  # noqa: BLE001 - SessionError, OSError, ...: reported, never silent
                self._emit(self.failed, str(exc))
            else:
                self._emit(self.saved, str(path))

    @staticmethod
    def _emit(signal: SignalInstance, text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the window was already destroyed (interpreter exit)
            signal.emit(text)
