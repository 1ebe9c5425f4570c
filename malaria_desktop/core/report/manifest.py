"""``manifest.json``: the list of a report folder's files with their SHA-256, written last.

Why, on top of the folder swap (``core.atomic.AtomicFolder``): a report folder is copied to USB sticks
and shares by hand, and a half-finished copy looks like a complete report. The manifest names the run
(``run_id``, time, app version, what produced it) and every file with its hash, so ``verify_folder`` can
say whether the folder still holds exactly one consistent run (the fault-injection benchmark uses it).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from malaria_desktop import __version__
from malaria_desktop.core.atomic import write_text
from malaria_desktop.core.digest import sha256_of_file
from malaria_desktop.versions import engine_versions

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "malaria-desktop-report-manifest"
MAX_MANIFEST_BYTES = 64 * 2**20  # 200,000 files at ~100 bytes a line, with room; the audit fed /dev/zero


def _files(folder: Path, with_folders: bool = False) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` (the manifest itself excluded); with
    ``with_folders``, empty hidden folders too (an empty ``.git/`` is someone's as much as a file is; an
    empty crop class folder of ours is not)."""
    out = []
    for root, dirs, files in os.walk(folder):
        for name in files:
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != MANIFEST_NAME:
                out.append(rel)
        rel_root = Path(root).relative_to(folder).as_posix()
        hidden = rel_root != "." and any(p.startswith(".") for p in rel_root.split("/"))
        if with_folders and hidden and not files and not dirs:
            out.append(rel_root + "/")
    return sorted(out)


def write_manifest(folder: Path | str, kind: str, **info: Any) -> Path:
    """Hash every file under ``folder`` and write ``manifest.json`` (call it after the last file)."""
    folder = Path(folder)
    data = {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "run_id": secrets.token_hex(8),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "app_version": __version__,
        "engine": engine_versions(),  # exact library versions (the lock's), so a report names its engine
        **info,
        "files": {rel: sha256_of_file(folder / rel) for rel in _files(folder)},
    }
    return write_text(folder / MANIFEST_NAME, json.dumps(data, indent=1, ensure_ascii=True) + "\n")


def read_manifest(folder: Path | str) -> dict[str, Any]:
    """The manifest of ``folder``; ValueError when it is missing or not a manifest."""
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(_read_regular(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: no readable manifest ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
        raise ValueError(f"{path} is not a report manifest")
    return data


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_MANIFEST_BYTES; OSError for anything else.

    Why (issue 24): ``manifest.json`` as a FIFO hung ``analyze`` in ``open``, and as a link to ``/dev/zero``
    it was read without bound. Opened without following a link and without blocking, checked on the open
    descriptor (no swap between check and read), read with a limit.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        data = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise OSError(f"{path.name} is larger than {MAX_MANIFEST_BYTES // 2**20} MB")
    return data


def verify_folder(folder: Path | str) -> list[str]:
    """Problems that make ``folder`` not exactly one run: missing, extra or changed files ([] when sound)."""
    folder = Path(folder)
    try:
        listed = read_manifest(folder)["files"]
    except ValueError as exc:
        return [str(exc)]
    present = set(_files(folder))
    problems = [f"missing: {rel}" for rel in sorted(set(listed) - present)]
    problems += [f"not from this run: {rel}" for rel in sorted(present - set(listed))]
    kept = sorted(set(listed) & present)
    problems += [f"changed: {rel}" for rel in kept if sha256_of_file(folder / rel) != listed[rel]]
    return problems


def unlisted_files(folder: Path | str) -> list[str]:
    """Entries under ``folder`` that its manifest does not list: someone else's, hidden ones included.

    A folder without a manifest (an older version's report) lists nothing: the caller's top-level
    name check decides for it. A ``manifest.json`` that is not a regular file (a link, a FIFO, a device)
    was not written by this app: the folder is not ours. Hidden files and folders (``.git/``,
    ``.notes.md``) are someone's too (issue 24): they were deleted with the folder.
    """
    folder = Path(folder)
    try:
        mode = os.lstat(folder / MANIFEST_NAME).st_mode
    except OSError:
        return []
    if not stat.S_ISREG(mode):
        return [MANIFEST_NAME]
    try:
        listed = read_manifest(folder)["files"]
    except ValueError:
        return []
    return [rel for rel in _files(folder, with_folders=True) if rel not in listed]


__all__ = ["MANIFEST_NAME", "read_manifest", "unlisted_files", "verify_folder", "write_manifest"]
