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
CORE_MODULES = sorted(m.name for m in pkgutil.walk_packages(malaria_desktop.core.__path__, "malaria_desktop.core."))
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
    for name in ("classification.classifier", "classification.crops", "image_io", "classification.model_card",
                 "pipeline", "report.counts", "results", "segmentation.engine", "review.state"):
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
    for path in (ROOT / "malaria_desktop" / "core").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(f in stripped for f in FORBIDDEN), f"{path.name}: {stripped}"


# --------------------------------------------------------------------------- import graph
PACKAGES = ("malaria_desktop", "training")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, from the source (every import statement, also lazy ones
    inside functions and ``TYPE_CHECKING`` blocks: a cycle there is still a cycle in the design)."""
    import ast

    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_import_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "malaria_desktop.qt.controllers.session" in graph["malaria_desktop.qt.main_window"]
    assert "malaria_desktop.core.classification.crops" in graph["malaria_desktop.core.pipeline"]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    """Modules that import each other cannot be understood, tested or moved one at a time (no allow-list since
    issue 21: lazy and ``TYPE_CHECKING`` imports count too)."""
    assert import_cycles(import_graph()) == []


def test_controllers_do_not_know_the_window() -> None:
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("malaria_desktop.qt.controllers"):
            assert "malaria_desktop.qt.main_window" not in targets and "malaria_desktop.qt.app" not in targets, name


# Which parts of the project each part may import (ARCHITECTURE.md, "Packages").
ALLOWED_IMPORTS = {
    # versions: the engine's library versions (stdlib only), recorded in every manifest and shown in About
    "malaria_desktop.core": ("malaria_desktop.core", "malaria_desktop.paths", "malaria_desktop",
                             "malaria_desktop.versions"),
    "malaria_desktop.versions": ("malaria_desktop",),
    "malaria_desktop.qt": ("malaria_desktop.qt", "malaria_desktop.core", "malaria_desktop.paths", "malaria_desktop",
                           "malaria_desktop.interop", "malaria_desktop.versions"),
    "malaria_desktop.paths": ("malaria_desktop",),
    "malaria_desktop.cli": ("malaria_desktop.core", "malaria_desktop.qt.app", "malaria_desktop.paths",
                            "malaria_desktop", "malaria_desktop.calibrate_cli", "malaria_desktop.interop",
                            "malaria_desktop.cluster_cli"),
    # S3 archives and the Ray engine (issue 23): never in the desktop bundle, so the CLI reaches the cluster
    # package only through cluster_cli (argparse at import, the package when s3:// or --engine ray is used)
    "malaria_desktop.cluster_cli": ("malaria_desktop.cluster", "malaria_desktop.core", "malaria_desktop.paths",
                                    "malaria_desktop"),
    "malaria_desktop.cluster": ("malaria_desktop.cluster", "malaria_desktop.core", "malaria_desktop.paths",
                                "malaria_desktop"),
    # interchange formats (FHIR): built from core's figures, imported only when a report is exported
    "malaria_desktop.interop": ("malaria_desktop.interop", "malaria_desktop.core", "malaria_desktop"),
    "malaria_desktop.calibrate_cli": ("malaria_desktop.core", "malaria_desktop.paths", "malaria_desktop"),
    "training": ("training", "malaria_desktop.core", "malaria_desktop"),
}


def _part(module: str) -> str | None:
    return max((p for p in ALLOWED_IMPORTS if module == p or module.startswith(p + ".")), key=len, default=None)


def _allowed(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes if p != "malaria_desktop") or (
        "malaria_desktop" in prefixes and target == "malaria_desktop"
    )


def test_each_part_imports_only_what_it_may() -> None:
    """core knows nothing above it, the Qt layer never reaches training, training never reaches the GUI."""
    bad = []
    for module, targets in import_graph().items():
        part = _part(module)
        if part is None:
            continue
        bad += [f"{module} -> {t}" for t in sorted(targets) if not _allowed(t, ALLOWED_IMPORTS[part])]
    assert bad == []


# --------------------------------------------------------------------------- size budget
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
MAX_WINDOW_LINES = 350
SIZE_EXEMPT = {"malaria_desktop/core/synthetic.py"}  # the synthetic-smear generator: one long recipe per field
# Functions over budget that their owners are splitting; the list may only shrink (the test fails on a stale entry).
KNOWN_LONG_FUNCTIONS = {
    "training/export.py:export_model",
    "malaria_desktop/core/pipeline.py:analyze_images",
    "benchmarks/gui_review.py:main",
}


def _sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for part in (*PACKAGES, "benchmarks", "packaging") for p in sorted((ROOT / part).rglob("*.py"))
            if "__pycache__" not in p.parts}


def _long_functions() -> set[str]:
    import ast

    found = set()
    for rel, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and rel not in SIZE_EXEMPT:
                if (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES:
                    found.add(f"{rel}:{node.name}")
    return found


def test_modules_and_functions_stay_small() -> None:
    """Small modules with one job, short functions: the code a newcomer reads in one sitting."""
    big = {rel: n for rel, text in _sources().items() if (n := len(text.splitlines())) > MAX_MODULE_LINES}
    assert {rel: n for rel, n in big.items() if rel not in SIZE_EXEMPT} == {}
    assert sorted(_long_functions() - KNOWN_LONG_FUNCTIONS) == []
    window = (ROOT / "malaria_desktop" / "qt" / "main_window.py").read_text(encoding="utf-8")
    assert len(window.splitlines()) <= MAX_WINDOW_LINES, "MainWindow lays out and wires; jobs go to controllers"


def test_known_long_functions_are_still_long() -> None:
    assert sorted(KNOWN_LONG_FUNCTIONS - _long_functions()) == []


def test_benchmarks_are_a_package_that_never_edits_sys_path() -> None:
    """Run as ``python -m benchmarks.X`` (issue 21): the shared paths come from ``benchmarks.common``."""
    assert (ROOT / "benchmarks" / "__init__.py").is_file() and (ROOT / "benchmarks" / "common.py").is_file()
    edits = [f"{p.name}:{n}" for p in sorted((ROOT / "benchmarks").glob("*.py"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if "sys.path.insert" in line or "sys.path.append" in line]
    assert edits == []
