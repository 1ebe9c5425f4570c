"""Fingerprint of the package sources a frozen build was made from, written into the bundle.

Why: the smoke test compares the frozen program's CSVs with the source checkout's. When the sources changed
after ``make bundle`` the comparison is meaningless, so the test first checks this fingerprint and says
"stale bundle, run make bundle" instead of showing a confusing numeric diff. Used by ``build.spec`` and
``tests/test_bundle.py`` (stdlib plus the stdlib-only malaria_desktop.versions, so the spec can load it by path).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FILE_NAME = "build_info.json"


def source_fingerprint(package_dir: Path) -> str:
    """SHA-256 over the package's ``.py`` files (relative path + content).

    The model is not part of it: the smoke test runs the source checkout with the bundled model, and
    checks separately that the bundled model is the committed one.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def installed_packages() -> dict[str, str]:
    """Every distribution installed in the build environment (normalised name -> version).

    The build environment is installed from ``requirements/lock.txt``, so this is the lock as the bundle got
    it; the frozen app reports these (``malaria_desktop.versions``: About, each report's manifest.json)."""
    from malaria_desktop.versions import installed_distributions  # stdlib only; the build runs in the venv

    return installed_distributions()


def write_build_info(target: Path, version: str, package_dir: Path, pruned: list[str] | None = None) -> Path:
    """``pruned``: libraries the spec removed, so the smoke test can check nothing left needs them."""
    info = {"version": version, "fingerprint": source_fingerprint(package_dir), "pruned": list(pruned or []),
            "packages": dict(sorted(installed_packages().items()))}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(info, indent=2), encoding="utf-8")
    return target


def read_build_info(bundle_data_dir: Path) -> dict:
    return json.loads((bundle_data_dir / FILE_NAME).read_text(encoding="utf-8"))
