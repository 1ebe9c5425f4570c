"""What the FHIR export adds to the frozen build, estimated from the installed packages (no build needed).

Usage: ``.venv/bin/python -m benchmarks.fhir_size``

PyInstaller stores pure-Python modules compiled and zlib-compressed in the PYZ archive and copies
extension modules as they are. This script does the same arithmetic for what the export pulls in: every
module of ``fhir.resources.R4B`` (all are hidden imports, ``packaging/bundle_helpers.fhir_modules``),
``fhir_core``, ``pydantic``, ``pydantic_core`` (its compiled extension dominates), ``annotated_types`` and
``typing_inspection``; PyYAML is excluded from the build and shown for comparison. A real build measured
with ``benchmarks/bundle_size.py`` supersedes these figures.
"""

from __future__ import annotations

import importlib.util
import marshal
import zlib
from pathlib import Path

PACKAGES = ("fhir.resources.R4B", "fhir_core", "pydantic", "pydantic_core", "annotated_types", "typing_inspection")
EXCLUDED = ("yaml",)


def folder_of(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


def sizes(name: str) -> tuple[int, int]:
    """(compressed bytecode bytes, extension bytes) of a package, the way PyInstaller stores them."""
    folder = folder_of(name)
    pattern = "*.py" if name == "fhir.resources.R4B" else "**/*.py"  # R4B: its own modules only
    code = sum(len(zlib.compress(marshal.dumps(compile(p.read_bytes(), str(p), "exec")), 6))
               for p in folder.glob(pattern) if "__pycache__" not in p.parts)
    ext = sum(p.stat().st_size for p in folder.rglob("*") if p.suffix in (".so", ".pyd", ".dylib"))
    return code, ext


def main() -> None:
    total = 0
    print(f"{'package':22s} {'PYZ (zlib) MB':>14s} {'extensions MB':>14s}")
    for name in PACKAGES + EXCLUDED:
        code, ext = sizes(name)
        note = "  (excluded from the build)" if name in EXCLUDED else ""
        total += 0 if name in EXCLUDED else code + ext
        print(f"{name:22s} {code / 1e6:14.2f} {ext / 1e6:14.2f}{note}")
    print(f"estimated addition to dist/malaria-desktop: {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
