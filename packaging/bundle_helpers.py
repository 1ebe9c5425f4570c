"""What ``build.spec`` decides, as plain functions: what to exclude, which files to keep, what to prune.

Why a module: code inside a ``.spec`` can be neither imported nor unit-tested, so the spec keeps only the
PyInstaller calls (Analysis, PYZ, EXE, COLLECT) and loads this file by path (stdlib only at import time,
like ``build_info.py``); ``tests/test_bundle_helpers.py`` tests every rule here without building anything.

The rules:
- the Qt modules to keep are QtCore/QtGui/QtWidgets plus any ``PySide6.Qt*`` module the package source
  names; every other PySide6 module, the training stack (TensorFlow, Keras, tf2onnx) and other
  unused libraries are excluded, and Qt translations and unused Qt plugins are filtered out after analysis;
- shared libraries no kept binary links to (left behind by dropped Qt plugins) are pruned;
- on Linux the interpreter's own binaries are shipped stripped of debug symbols.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# A TOC entry as PyInstaller keeps it: (destination in the bundle, source file, type code).
Entry = tuple[str, str, str]
MODEL_FILES = ("model.onnx", "model_card.json")
# the not-a-red-cell model (core.classification.not_a_cell): shipped with its card when the folder has both
OPTIONAL_MODEL_FILES = ("not_a_cell.onnx", "not_a_cell_card.json")

# Qt: the app is a QtWidgets program. Everything else in PySide6 (WebEngine, Qml/Quick, 3D, Multimedia,
# Pdf, Charts, ...) is excluded unless the package source imports it.
QT_ALWAYS = frozenset({"QtCore", "QtGui", "QtWidgets"})
# Qt plugin folders a widgets app can use; the rest (sql drivers, multimedia, 3D, qml tooling, tls ...)
# are dropped. Within "platforms", only the backends real desktops and the smoke test need are kept.
QT_PLUGIN_DIRS = frozenset({
    "platforms", "imageformats", "iconengines", "platformthemes", "platforminputcontexts", "styles",
    "xcbglintegrations", "wayland-decoration-client", "wayland-graphics-integration-client",
    "wayland-shell-integration", "generic",
})
QT_PLATFORMS = ("qxcb", "qwayland", "qoffscreen", "qminimal.", "qwindows", "qcocoa")
# Single plugins that drag in big Qt modules or a second GUI toolkit: the virtual keyboard (QtQuick + Qml),
# the PDF image format (QtPdf), the GTK3 theme (GTK, cairo, pango from the build machine) and TUIO touch
# (QtNetwork). Their libraries then have no user left and are pruned (see ``prune_unreferenced``).
QT_PLUGIN_DROP = ("qtvirtualkeyboard", "qpdf", "qgtk3", "qtuiotouch")
# Python packages that must never be in the clinic build (training stack, dev tools, GUI toolkits
# the app does not use). scipy/skimage are excluded only while the package source does not import them.
EXCLUDES = (
    # (onnx stays in: ``calibrate`` reads and writes model weights with it, docs/calibration.md)
    "tensorflow", "tensorboard", "keras", "tf_keras", "tf2onnx", "training", "h5py", "jax",
    "tkinter", "_tkinter", "matplotlib", "pandas", "sklearn", "IPython", "jupyter_client",
    "pytest", "_pytest", "pytestqt", "pluggy", "setuptools", "pkg_resources", "pip", "wheel",
    "PySide6.scripts", "shiboken6.scripts", "PIL.ImageQt", "PIL.ImageTk", "PIL._imagingtk",
    # AVIF decoding would add Pillow's own 5 MB libavif; microscope cameras write TIFF/PNG/JPEG/BMP
    "PIL.AvifImagePlugin", "PIL._avif",
    # stdlib/numpy parts a desktop screening tool never runs (debuggers, doc tools, networking, f2py)
    "numpy.f2py", "numpy.distutils", "charset_normalizer", "readline", "pdb", "pydoc", "doctest",
    "ssl", "_ssl", "_hashlib", "xmlrpc", "ftplib", "http.server", "curses", "lib2to3", "idlelib",
    "turtle", "turtledemo",
    # optional to the FHIR export (see FHIR_MODEL_PACKAGE below): YAML output and the FHIR STU3 models
    "yaml", "_yaml", "fhir.resources.STU3",
    # the reference-lab archive engine (issue 23): object storage and Ray are for servers, never a clinic PC
    *("malaria_desktop.cluster", "ray", "boto3", "botocore", "s3transfer", "moto", "aiobotocore", "s3fs", "fsspec"),
)
# The FHIR export (malaria_desktop.interop, docs/fhir.md) uses fhir.resources' R4B models. They resolve their
# element types by name at run time (fhir_core's ``import_string``), which PyInstaller cannot follow, so the
# R4B modules are hidden imports (``fhir_modules``). PyYAML is optional to fhir_core (YAML output, unused)
# and to numpy (``show_config``), and its C extension is ~3 MB: excluded.
FHIR_MODEL_PACKAGE = "fhir.resources.R4B"
# App sub-packages that stay out of the bundle with their dependencies (``pip install malaria-desktop[cluster]``).
SERVER_ONLY_PACKAGES = ("cluster",)
OPTIONAL_HEAVY = ("scipy", "skimage")


class BuildError(SystemExit):
    """A build input is missing: PyInstaller stops with this message instead of a traceback."""


# --------------------------------------------------------------------------- the package
def package_version(pkg_dir: Path) -> str:
    """``__version__`` read from the package's ``__init__.py`` without importing the package."""
    tree = ast.parse((pkg_dir / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise BuildError(f"build.spec: no __version__ in {pkg_dir / '__init__.py'}")


def package_sources(pkg_dir: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(pkg_dir.rglob("*.py")))


def package_modules(pkg_dir: Path) -> list[str]:
    """Every module of the app package, from its files (not from an installed copy).

    cli.py imports the GUI and the engine lazily; listing them all as hidden imports keeps the build
    independent of import style. ``resources/`` holds data, not app modules; ``SERVER_ONLY_PACKAGES``
    (S3 + Ray, which the clinic build never runs) are left out with their dependencies.
    """
    modules = []
    for path in sorted(pkg_dir.rglob("*.py")):
        rel = path.relative_to(pkg_dir.parent).with_suffix("")
        if "__pycache__" in rel.parts or "resources" in rel.parts or rel.parts[1] in SERVER_ONLY_PACKAGES:
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        modules.append(".".join(parts))
    return modules


def fhir_modules(package: str = FHIR_MODEL_PACKAGE) -> list[str]:
    """The FHIR model modules the export may load by name (all of them: each is small), from the installed files."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"build.spec: {package} is not installed (the FHIR export needs fhir.resources)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return [package, *sorted(f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__")]


# --------------------------------------------------------------------------- what goes in
def qt_modules_used(source: str) -> set[str]:
    """``PySide6.QtX`` modules named in the package source (``from PySide6.QtX import`` or ``import``)."""
    used = set(re.findall(r"PySide6\.(Qt\w+)", source))
    pattern = r"from\s+PySide6\s+import\s+(?:\(([\w\s,]+)\)|([\w \t,]+))"  # (A,\n B) or A, B on one line
    for groups in re.findall(pattern, source):
        names = re.split(r"[\s,]+", " ".join(groups))
        used.update(name for name in names if re.fullmatch(r"Qt\w+", name))
    return used | QT_ALWAYS


def qt_modules_available(pyside_dir: Path | None = None) -> set[str]:
    """The ``QtX`` extension modules of the installed PySide6 (or of ``pyside_dir``)."""
    if pyside_dir is None:
        import PySide6

        pyside_dir = Path(PySide6.__file__).parent
    pattern = re.compile(r"Qt\w+\.(abi3\.so|pyd|.*\.so)$")
    return {p.name.split(".")[0] for p in pyside_dir.iterdir() if pattern.match(p.name)}


def excludes(source: str, qt_available: Iterable[str]) -> list[str]:
    """Modules PyInstaller must leave out: ``EXCLUDES``, unused Qt modules, unused optional heavy packages."""
    result = list(EXCLUDES) + sorted(f"PySide6.{m}" for m in set(qt_available) - qt_modules_used(source))
    for heavy in OPTIONAL_HEAVY:
        if re.search(rf"^\s*(from|import)\s+{heavy}\b", source, flags=re.M):
            print(f"build.spec: the package imports {heavy}; keeping it in the bundle")
        else:
            result.append(heavy)
    return result


def required_model_files(model_dir: Path) -> list[tuple[str, str]]:
    """``(source, bundle folder)`` data entries for the model; stops the build when one is missing."""
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise BuildError(
            f"build.spec: the model folder {model_dir} lacks {', '.join(missing)}. Train/export the model "
            "(see CONTRIBUTING.md) or set MALARIA_DESKTOP_BUNDLE_MODEL to a folder holding "
            f"{' + '.join(MODEL_FILES)}."
        )
    optional = list(OPTIONAL_MODEL_FILES) if all((model_dir / n).is_file() for n in OPTIONAL_MODEL_FILES) else []
    return [(str(model_dir / name), "trained_model") for name in (*MODEL_FILES, *optional)]


def app_icon(icon_dir: Path, platform: str = sys.platform) -> str | None:
    """The icon embedded in the executable. Linux executables carry none (the window sets its own from
    ``malaria_desktop/resources/icon.png``, drawn from the same ``packaging/make_icons.py``)."""
    if platform not in ("win32", "darwin"):
        return None
    path = icon_dir / ("app_icon.ico" if platform == "win32" else "app_icon.icns")
    if not path.is_file():
        raise BuildError(f"build.spec: missing {path}; run packaging/make_icons.py")
    return str(path)


# --------------------------------------------------------------------------- after the analysis
def keep_collected(dest: str) -> bool:
    """Filter for Analysis binaries/datas: drop Qt translations and plugins a widgets app never loads."""
    parts = Path(dest).parts
    if parts[-1].lower().startswith("opencv_videoio_ffmpeg"):
        return False  # Windows/macOS wheels: OpenCV's on-demand video plugin (~27 MB); no video here
    in_qt = "PySide6" in parts  # Qt lives in PySide6/Qt/... (Linux, macOS) or PySide6/... (Windows)
    if in_qt and "translations" in parts:
        return False  # the UI is English only; saves ~tens of MB of .qm files
    if in_qt and "plugins" in parts:
        i = parts.index("plugins")
        if i + 1 < len(parts):
            kind = parts[i + 1]
            if kind not in QT_PLUGIN_DIRS:
                return False
            if kind == "platforms" and not any(p in parts[-1] for p in QT_PLATFORMS):
                return False
            if any(p in parts[-1] for p in QT_PLUGIN_DROP):
                return False
    return True


def is_root(dest: str, typecode: str) -> bool:
    """Binaries that are loaded by name at run time (not as someone's link dependency) and so always stay."""
    parts = Path(dest).parts
    name = parts[-1].lower()
    return (
        typecode != "BINARY"  # Python extension modules
        or "plugins" in parts  # Qt plugins (already filtered)
        or name.startswith(("libpython", "python3", "python"))  # loaded by the bootloader
        or parts[0] == "onnxruntime"  # ORT dlopens its provider libraries
    )


def prune_unreferenced(binaries: list[Entry], get_imports: Callable[[str], Any] | None = None,
                       platform: str = sys.platform) -> tuple[list[Entry], set[str]]:
    """Drop shared libraries no kept binary links to (left over from dropped Qt plugins).

    PyInstaller collects a plugin's dependencies during analysis, before the spec filters plugins, so
    e.g. QtQuick stays behind the dropped virtual-keyboard plugin. Walk link-time imports from the roots
    (extension modules, kept plugins, the Python library) and keep only what they reach. Returns the kept
    entries and the (lowercase) file names dropped. Off on macOS, whose Qt frameworks are folders of
    symlinks this simple walk does not model (the build is only a few leftover frameworks bigger there).
    ``get_imports(path) -> [(name, resolved path)]`` defaults to PyInstaller's.
    """
    if platform == "darwin":
        return binaries, set()
    if get_imports is None:
        from PyInstaller.depend.bindepend import get_imports

    def key(name: str) -> str:
        return Path(name).name.lower()

    by_name = {key(entry[0]): entry for entry in binaries}
    todo = [entry for entry in binaries if is_root(entry[0], entry[2])]
    kept = {key(entry[0]) for entry in todo}
    while todo:
        _, src, _ = todo.pop()
        try:
            imports = get_imports(src)
        except Exception as exc:  # noqa: BLE001 - unreadable file: keep everything rather than guess
            print(f"build.spec: cannot read imports of {src} ({exc}); pruning disabled")
            return binaries, set()
        for name, _path in imports:
            k = key(name)
            if k in by_name and k not in kept:
                kept.add(k)
                todo.append(by_name[k])
    dropped = sorted(dest for dest, _, _ in binaries if key(dest) not in kept)
    print(f"build.spec: pruned {len(dropped)} unreferenced libraries: {', '.join(dropped)}")
    return [entry for entry in binaries if key(entry[0]) in kept], {key(dest) for dest in dropped}


def drop_dangling_symlinks(toc: list[Entry], dropped_names: set[str]) -> list[Entry]:
    """Remove the top-level convenience symlinks PyInstaller made for libraries that were pruned."""
    return [entry for entry in toc if entry[2] != "SYMLINK" or Path(entry[1]).name.lower() not in dropped_names]


def is_python_own_binary(dest: str) -> bool:
    """libpython and the interpreter's lib-dynload modules: built with the interpreter, not by auditwheel."""
    path = Path(dest)
    return (path.name.startswith("libpython") and path.parent == Path(".")) or "lib-dynload" in path.parts


def strip_python_library(binaries: list[Entry], workdir: Path, platform: str = sys.platform) -> list[Entry]:
    """Linux: ship stripped copies of the interpreter's own binaries (~24 MB of debug symbols here).

    Only those: stripping auditwheel-patched wheel libraries (numpy, cv2, Qt ...) can corrupt them, which
    is why PyInstaller's global ``strip`` option stays off.
    """
    strip = shutil.which("strip")
    if not platform.startswith("linux") or strip is None:
        return binaries
    result = []
    for dest, src, typecode in binaries:
        if typecode != "SYMLINK" and is_python_own_binary(dest):
            target = workdir / "stripped" / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            subprocess.run([strip, "--strip-debug", str(target)], check=True)
            src = str(target)
        result.append((dest, src, typecode))
    return result


def windows_version_numbers(version: str) -> tuple[int, int, int, int]:
    """``"1.2.3rc1"`` -> ``(1, 2, 3, 1)``: the four numbers a Windows version resource holds."""
    numbers = [*map(int, re.findall(r"\d+", version)), 0, 0, 0, 0]
    return numbers[0], numbers[1], numbers[2], numbers[3]


def windows_version_info(version: str, exe_name: str) -> Any:
    """Version resource shown in the .exe's Properties dialog (Windows only)."""
    from PyInstaller.utils.win32 import versioninfo as vi

    numbers = windows_version_numbers(version)
    strings = [
        vi.StringStruct("CompanyName", "Malaria Desktop contributors"),
        vi.StringStruct("FileDescription", "Malaria Desktop - thin smear screening aid"),
        vi.StringStruct("FileVersion", version),
        vi.StringStruct("ProductName", "Malaria Desktop"),
        vi.StringStruct("ProductVersion", version),
        vi.StringStruct("OriginalFilename", f"{exe_name}.exe"),
    ]
    return vi.VSVersionInfo(
        ffi=vi.FixedFileInfo(filevers=numbers, prodvers=numbers),
        kids=[
            vi.StringFileInfo([vi.StringTable("040904B0", strings)]),
            vi.VarFileInfo([vi.VarStruct("Translation", [1033, 1200])]),
        ],
    )
