"""SHA-256 of a file's bytes, read in 1 MB blocks: one implementation for every place that hashes files.

Callers add their own error wording (``image_io.file_sha256`` turns an unreadable file into an
``ImageLoadError``); this raises the plain ``OSError``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of_file(path: str | Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
