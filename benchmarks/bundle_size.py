"""Size of the frozen build and its biggest parts (issue target: dist/malaria-desktop <= 300 MB).

Usage: ``.venv/bin/python -m benchmarks.bundle_size [dist/malaria-desktop] [--top 15]``

Prints the total (bytes on disk, symlinks not followed), a breakdown by component (OpenCV, Qt, NumPy, ONNX
Runtime, Python, system libraries, the model ...), the largest files, and whether anything that must not
ship (TensorFlow, Keras, tf2onnx, the training module, tkinter, matplotlib) is inside. Exit status 1 when a
forbidden package is found, so CI can use it as a check.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks.common import ROOT

TARGET_MB = 300
FORBIDDEN = ("tensorflow", "keras", "tf2onnx", "training", "tkinter", "_tkinter", "matplotlib", "tcl", "tk")
# first matching rule wins; patterns are checked against the path relative to the bundle, lowercase
COMPONENTS = [
    ("model (trained_model/)", ("trained_model/",)),
    ("OpenCV (cv2 + bundled ffmpeg/OpenBLAS)", ("cv2/", "opencv_python_headless.libs/")),
    ("ONNX Runtime", ("onnxruntime/",)),
    ("NumPy (+ OpenBLAS)", ("numpy/", "numpy.libs/")),
    ("Qt plugins", ("pyside6/qt/plugins/",)),
    ("Qt libraries (ICU included)", ("pyside6/qt/lib/",)),
    ("PySide6/shiboken bindings", ("pyside6/", "shiboken6/")),
    ("Python runtime + stdlib", ("libpython", "python3", "base_library.zip")),
    ("executables (bootloader + PYZ)", ("malaria-desktop",)),
    ("app resources", ("malaria_desktop/",)),
]


def _internal(bundle: Path) -> Path:
    inner = bundle / "_internal"
    return inner if inner.is_dir() else bundle


def component_of(rel: str) -> str:
    low = rel.lower()
    for name, prefixes in COMPONENTS:
        if any(low.startswith(p) for p in prefixes):
            return name
    if low.endswith((".so", ".dll", ".dylib")) or ".so." in low:
        return "system/shared libraries (X11, xcb, glib, freetype ...)"
    return "other"


def scan(bundle: Path) -> list[tuple[str, int]]:
    """(path relative to the bundle's data folder, size) for every regular file."""
    base = _internal(bundle)
    files = []
    for path in bundle.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(base).as_posix() if base in path.parents else path.relative_to(bundle).as_posix()
        files.append((rel, path.stat().st_size))
    return files


def forbidden_inside(files: list[tuple[str, int]]) -> list[str]:
    """Forbidden top-level packages present as folders/files in the bundle's data folder."""
    hits = set()
    for rel, _ in files:
        first = rel.split("/")[0].lower()
        if first.split(".")[0] in FORBIDDEN:
            hits.add(first)
    return sorted(hits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "dist" / "malaria-desktop")
    parser.add_argument("--top", type=int, default=15, help="how many of the largest files to list")
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"no bundle at {args.bundle}: run `make bundle` first", file=sys.stderr)
        return 2
    files = scan(args.bundle)
    total = sum(size for _, size in files)
    by_component: dict[str, int] = defaultdict(int)
    for rel, size in files:
        by_component[component_of(rel)] += size

    verdict = "OK" if total / 1e6 <= TARGET_MB else "OVER TARGET"
    print(f"bundle: {args.bundle}")
    print(f"total: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB), {len(files)} files; "
          f"target <= {TARGET_MB} MB: {verdict}")
    print("\nby component:")
    for name, size in sorted(by_component.items(), key=lambda item: -item[1]):
        print(f"  {size / 1e6:7.1f} MB  {100 * size / total:5.1f} %  {name}")
    print(f"\nlargest {args.top} files:")
    for rel, size in sorted(files, key=lambda item: -item[1])[: args.top]:
        print(f"  {size / 1e6:7.1f} MB  {rel}")
    hits = forbidden_inside(files)
    print(f"\nforbidden packages inside: {', '.join(hits) if hits else 'none'}")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
