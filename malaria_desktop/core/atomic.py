"""All-or-nothing writes: one file (temp + fsync + rename) or a whole folder (staging sibling + swap).

Why one module: a report, a session, an exported PNG must all survive a kill -9 or a full disk the same
way: the old content stays intact until the new content is complete and on disk. Guarantees:

- the temp file lives in the target's folder (same file system, so the rename is atomic), is fsynced,
  renamed over the target, and the folder is fsynced so the rename itself survives a power cut;
- permissions are those of a normally created file (umask), or the replaced file's own mode;
- on any failure (or Ctrl-C) the temp file is removed; temp files a killed process left behind are
  removed by the next write to the same name (only when their writer is no longer running);
- an existing target that is not a regular file (symlink, FIFO, device node, socket, folder) is refused:
  ``--csv /dev/null`` run as root must not replace ``/dev/null``.

``AtomicFolder`` gives the same guarantee to a set of files (a report folder): everything is written into a
hidden staging sibling, which is swapped in when complete (Linux ``renameat2(RENAME_EXCHANGE)``: one atomic
step; elsewhere two renames, and ``recover_folder`` puts the previous complete folder back if a kill falls
between them). No file from an older run survives in the folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from malaria_desktop.core.errors import UnsafeTargetError

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: changing the umask later from a thread would race other threads
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK
TEMP_SUFFIX = ".tmp"


def check_target(path: Path | str) -> Path:
    """Raise UnsafeTargetError when ``path`` exists and is not a regular file (symlinks included)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeTargetError(f"{path} is a symbolic link; refusing to replace it. Choose a plain file name.")
    if not stat.S_ISREG(st.st_mode):
        kind = "folder" if stat.S_ISDIR(st.st_mode) else "device, pipe or socket"
        raise UnsafeTargetError(f"{path} is a {kind}, not a regular file; refusing to replace it.")
    return path


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # cannot tell cheaply: keep it (a stale temp file costs disk, not data)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_name(name: str, kind: str = "") -> str:
    return f".{name}.{kind}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _stale(entry: str, name: str, kind: str = "") -> bool:
    """True for a temp entry of ``name`` whose writing process is gone."""
    prefix = f".{name}.{kind}"
    if not (entry.startswith(prefix) and entry.endswith(TEMP_SUFFIX)):
        return False
    pid_text = entry[len(prefix):-len(TEMP_SUFFIX)].split("-", 1)[0]
    return pid_text.isdigit() and not _pid_alive(int(pid_text))


def clean_stale_temps(path: Path | str) -> list[Path]:
    """Remove temp files/folders that killed writers of ``path`` left next to it; returns what went."""
    path = Path(path)
    folder = path.parent
    removed: list[Path] = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if _stale(entry, path.name) or _stale(entry, path.name, "new-") or _stale(entry, path.name, "old-"):
            _remove(folder / entry)
            removed.append(folder / entry)
    return removed


def clean_stale_temps_in(folder: Path | str) -> list[Path]:
    """Remove every temp file/folder in ``folder`` whose writer is gone, whatever its target (for names
    never written again, e.g. a crashed instance's own autosave file)."""
    folder = Path(folder)
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for entry in entries:
        if entry.startswith(".") and entry.endswith(TEMP_SUFFIX):
            name = entry[1:-len(TEMP_SUFFIX)].rpartition(".")[0]  # ".<name>.<kind><pid>-<hex>.tmp"
            if name and any(_stale(entry, name, kind) for kind in ("", "new-", "old-")):
                _remove(folder / entry)
                removed.append(folder / entry)
    return removed


def _remove(victim: Path) -> None:
    with contextlib.suppress(OSError):
        if victim.is_dir() and not victim.is_symlink():
            shutil.rmtree(victim)
        else:
            victim.unlink()


def fsync_dir(folder: Path | str) -> None:
    """Persist renames/creations inside ``folder`` (POSIX); a no-op where folders cannot be fsynced."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on a clean exit it is fsynced and renamed over ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``encoding``/``newline`` pass through). On an exception the temp
    file is removed and ``path`` is untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only ('w' or 'wb'), not {mode!r}")
    path = check_target(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = folder / _temp_name(path.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _set_mode(tmp, path)
        check_target(path)  # it may have become a symlink while we wrote
        os.replace(tmp, path)
        fsync_dir(folder)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # no-op after a successful rename


def _set_mode(tmp: Path, target: Path) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = FILE_MODE
    os.chmod(tmp, mode)


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see module docstring)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text(path: Path | str, text: str, *, encoding: str = "utf-8", newline: str = "\n") -> Path:
    """Write ``text`` to ``path`` atomically (see module docstring)."""
    with atomic_open(path, "w", encoding=encoding, newline=newline) as handle:
        handle.write(text)
    return Path(path)


# ---------------------------------------------------------------- folders

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _old_siblings(target: Path) -> list[Path]:
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return []
    prefix = f".{target.name}.old-"
    return sorted(target.parent / e for e in entries if e.startswith(prefix) and e.endswith(TEMP_SUFFIX))


def recover_folder(target: Path | str) -> None:
    """Finish what a killed swap left: bring back the previous folder if ``target`` is missing; tidy up."""
    target = Path(target)
    olds = _old_siblings(target)
    if not target.exists() and olds:
        os.replace(olds[-1], target)  # the previous complete run
        fsync_dir(target.parent)
    clean_stale_temps(target)


class AtomicFolder:
    """Write a folder as one unit: ``with AtomicFolder(out) as stage: write(stage / "a.csv")``.

    Files go into a hidden staging sibling of ``target``; a clean exit swaps it in and removes the old
    folder, an exception removes the staging folder and leaves ``target`` as it was. ``allowed`` (names)
    guards a folder that is not ours: if ``target`` holds any other entry, hidden ones included (a ``.git/`` or
    ``.notes.md`` was deleted with the folder, issue 24), the write is refused before anything is touched,
    so pointing a report at a Documents folder or a repository cannot wipe it.
    ``foreign`` (optional) does the same check deeper: it returns the entries of ``target`` that the
    previous run did not write (e.g. from its manifest).
    """

    def __init__(self, target: Path | str, allowed: frozenset[str] | None = None,
                 foreign: Callable[[Path], list[str]] | None = None) -> None:
        self.link = Path(target).absolute() if Path(target).is_symlink() else None
        self.target = Path(os.path.realpath(target)) if self.link is not None else Path(target).absolute()
        self.allowed = allowed
        self.foreign = foreign
        self.stage: Path | None = None

    def check(self) -> None:
        """Raise UnsafeTargetError when ``target`` is a file or holds files this writer does not own."""
        if self.link is not None and not self.target.exists():  # a dangling link was followed (issue 24)
            raise UnsafeTargetError(f"{self.link} is a link to {self.target}, which does not exist; name a real "
                                    "folder instead.")
        recover_folder(self.target)
        if self.target.exists() and not self.target.is_dir():
            raise UnsafeTargetError(f"{self.target} is a file, not a folder.")
        cwd = Path.cwd()
        if cwd == self.target or self.target in cwd.parents:
            raise UnsafeTargetError(f"{self.target} is the current folder (or holds it); it cannot be replaced "
                                    "as a whole. Name a sub-folder instead, e.g. 'report'.")
        if not self.target.is_dir():
            return
        foreign = []
        if self.allowed is not None:
            foreign = sorted(e for e in os.listdir(self.target) if e not in self.allowed)
        if not foreign and self.foreign is not None:
            foreign = self.foreign(self.target)
        if foreign:
            raise UnsafeTargetError(
                f"The folder {self.target} holds other files (e.g. '{foreign[0]}'); a report replaces its folder "
                "as a whole, so choose an empty folder, a new folder name or a previous report folder."
            )

    def __enter__(self) -> Path:
        self.check()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        stage = self.target.parent / _temp_name(self.target.name, "new-")
        stage.mkdir(mode=0o700)
        if os.name == "posix":
            os.chmod(stage, DIR_MODE)
        self.stage = stage
        return stage

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.stage is not None
        stage, self.stage = self.stage, None
        if exc_type is not None:
            shutil.rmtree(stage, ignore_errors=True)
            return
        try:
            self._commit(stage)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise

    def _commit(self, stage: Path) -> None:
        _fsync_tree(stage)
        target = self.target
        if target.exists():
            self.check()  # nothing foreign appeared while we wrote
            if _exchange(stage, target):
                fsync_dir(target.parent)
                shutil.rmtree(stage, ignore_errors=True)  # now holds the previous run
                return
            old = target.parent / _temp_name(target.name, "old-")
            os.replace(target, old)
            os.replace(stage, target)  # a kill between these two renames: recover_folder restores ``old``
            fsync_dir(target.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, target)
            fsync_dir(target.parent)


def _fsync_tree(folder: Path) -> None:
    """fsync every folder of a staged tree (files were fsynced when written)."""
    for root, _dirs, _files in os.walk(folder):
        fsync_dir(root)


__all__ = ["AtomicFolder", "atomic_open", "check_target", "clean_stale_temps", "clean_stale_temps_in", "fsync_dir",
           "recover_folder",
           "write_bytes", "write_text"]
