"""Pseudonyms for exported crops, keyed with a secret of this installation (not a bare hash).

Why (issue 24, medium): an exported crop is named ``C<9 digits>_...`` after its patient so that training
keeps one patient's cells on one side of a split. The digits were an unsalted SHA-256 of the patient ID:
anyone holding a crop folder and a list of likely IDs recovered the patient in 1.8 s. Now they are an
HMAC-SHA256 under 32 random bytes created once per installation (``<user data>/pseudonym.key``, readable
by the user only): stable on this PC (the same patient always gets the same group, which training needs),
meaningless without the key. Crops exported on two PCs get different groups for the same patient, which
keeps them apart only in the sense a split needs: a patient is never on both sides within one folder.

Where the user data folder cannot be written, a key for this process only is used (groups stay correct
within one export, and are not linkable afterwards).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from malaria_desktop import paths

KEY_FILE = "pseudonym.key"
KEY_BYTES = 32
_process_key = secrets.token_bytes(KEY_BYTES)


def key_path() -> Path:
    return paths.user_data_dir() / KEY_FILE


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(KEY_BYTES + 1)
    return data if len(data) == KEY_BYTES else None


def installation_key() -> bytes:
    """This installation's secret: read, or created once (exclusive create: two first runs agree)."""
    try:
        path = key_path()
    except OSError:
        return _process_key
    key = _read_key(path)
    if key is not None:
        return key
    new = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # fails if another process created it first: then its key is the key
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return _read_key(path) or _process_key


def pseudonym(seed: str) -> str:
    """``C`` + 9 digits for ``seed`` under this installation's key (file names with undecodable bytes
    included: they are hashed as their original bytes)."""
    data = seed.encode("utf-8", "surrogateescape")
    digest = int(hmac.new(installation_key(), data, hashlib.sha256).hexdigest(), 16)
    return f"C{100_000_000 + digest % 900_000_000}"


__all__ = ["installation_key", "key_path", "pseudonym"]
