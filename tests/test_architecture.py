"""Architecture contracts (napari-style import rules), checked in a fresh interpreter.

The headless engine and the CLI must never pull in Qt or TensorFlow: the CLI runs on servers without a
display, the bundle must stay small, and the GUI must stay a thin layer over the core.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import malaria_desktop.core

ROOT = Path(__file__).resolve().parents[1]
CORE_MODULES = sorted(f"malaria_desktop.core.{m.name}" for m in pkgutil.iter_modules(malaria_desktop.core.__path__))
FORBIDDEN = ("PySide6", "tensorflow", "keras", "shiboken6")


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_core_modules_found() -> None:
    for name in ("classifier", "crops", "image_io", "model_card", "pipeline", "report", "results", "segmentation"):
        assert f"malaria_desktop.core.{name}" in CORE_MODULES


def test_core_and_cli_import_neither_qt_nor_tensorflow() -> None:
    loaded = _imported_after(["malaria_desktop.core", *CORE_MODULES, "malaria_desktop.cli", "malaria_desktop.paths"])
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert not bad, f"core/CLI imported {bad}"


def test_cli_help_is_light() -> None:
    """``--help``/``--version`` must not load ONNX Runtime or OpenCV (instant start on slow clinic PCs)."""
    loaded = _imported_after(["malaria_desktop.cli"])
    assert not {"onnxruntime", "cv2"} & {m.split(".")[0] for m in loaded}


def test_core_sources_never_mention_qt_or_tensorflow_imports() -> None:
    for path in (ROOT / "malaria_desktop" / "core").glob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(f in stripped for f in FORBIDDEN), f"{path.name}: {stripped}"
