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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from malaria_desktop import __version__
from malaria_desktop.core.atomic import write_text
from malaria_desktop.core.digest import sha256_of_file

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "malaria-desktop-report-manifest"


def _files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` (the manifest itself excluded)."""
    out = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != MANIFEST_NAME:
                out.append(rel)
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
        **info,
        "files": {rel: sha256_of_file(folder / rel) for rel in _files(folder)},
    }
    return write_text(folder / MANIFEST_NAME, json.dumps(data, indent=1, ensure_ascii=True) + "\n")


def read_manifest(folder: Path | str) -> dict[str, Any]:
    """The manifest of ``folder``; ValueError when it is missing or not a manifest."""
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: no readable manifest ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
        raise ValueError(f"{path} is not a report manifest")
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
    """Files under ``folder`` that its manifest does not list (someone else's; hidden files aside).

    A folder without a manifest (an older version's report) lists nothing: the caller's top-level
    name check decides for it.
    """
    folder = Path(folder)
    try:
        listed = read_manifest(folder)["files"]
    except ValueError:
        return []
    return [rel for rel in _files(folder) if rel not in listed and not any(p.startswith(".") for p in rel.split("/"))]


__all__ = ["MANIFEST_NAME", "read_manifest", "unlisted_files", "verify_folder", "write_manifest"]
