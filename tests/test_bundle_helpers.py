"""The build's rules (packaging/bundle_helpers.py) without building: what is excluded, kept and pruned."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bundle_helpers", ROOT / "packaging" / "bundle_helpers.py")
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_version_and_modules_come_from_the_package_files() -> None:
    import malaria_desktop

    pkg = ROOT / "malaria_desktop"
    assert helpers.package_version(pkg) == malaria_desktop.__version__
    modules = helpers.package_modules(pkg)
    assert {"malaria_desktop", "malaria_desktop.cli", "malaria_desktop.qt.main_window",
            "malaria_desktop.qt.controllers.session"} <= set(modules)
    assert not any("resources" in m or "__pycache__" in m for m in modules)


def test_package_version_missing_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("x = 1\n")
    with pytest.raises(SystemExit, match="no __version__"):
        helpers.package_version(tmp_path)


def test_qt_modules_named_in_the_source_are_kept_and_the_rest_excluded() -> None:
    source = ("from PySide6.QtCore import Qt\nfrom PySide6 import QtSvg, QtGui\nimport PySide6.QtNetwork\n"
              "from PySide6 import (\n    QtPrintSupport,\n)\nQtBogus = 1\n")
    assert helpers.qt_modules_used(source) == {"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtNetwork", "QtPrintSupport"}
    excluded = helpers.excludes(source, {"QtCore", "QtWidgets", "QtSvg", "QtQuick", "QtWebEngineCore"})
    assert {"PySide6.QtQuick", "PySide6.QtWebEngineCore", "tensorflow", "training", "scipy"} <= set(excluded)
    assert "PySide6.QtSvg" not in excluded and "PySide6.QtCore" not in excluded
    assert "scipy" not in helpers.excludes("import scipy.ndimage\n", set())


def test_the_app_source_needs_only_the_widget_modules_of_qt() -> None:
    source = helpers.package_sources(ROOT / "malaria_desktop")
    assert helpers.qt_modules_used(source) == set(helpers.QT_ALWAYS)


def test_model_files_are_required(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="lacks model.onnx, model_card.json"):
        helpers.required_model_files(tmp_path)
    for name in helpers.MODEL_FILES:
        (tmp_path / name).write_text("x")
    assert helpers.required_model_files(tmp_path) == [(str(tmp_path / n), "trained_model") for n in helpers.MODEL_FILES]
    (tmp_path / "not_a_cell.onnx").write_text("x")  # half of the optional not-a-cell model: left out
    assert len(helpers.required_model_files(tmp_path)) == len(helpers.MODEL_FILES)
    (tmp_path / "not_a_cell_card.json").write_text("x")
    names = [Path(src).name for src, _ in helpers.required_model_files(tmp_path)]
    assert names == [*helpers.MODEL_FILES, *helpers.OPTIONAL_MODEL_FILES]


def test_icon_only_on_windows_and_macos(tmp_path: Path) -> None:
    assert helpers.app_icon(tmp_path, "linux") is None
    with pytest.raises(SystemExit, match="app_icon.ico"):
        helpers.app_icon(tmp_path, "win32")
    assert helpers.app_icon(ROOT / "packaging", "darwin").endswith("app_icon.icns")


@pytest.mark.parametrize(("dest", "keep"), [
    ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
    ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", False),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", False),
    ("PySide6/Qt/plugins/imageformats/libqjpeg.so", True),
    ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
    ("PySide6/Qt/translations/qt_de.qm", False),
    ("cv2/opencv_videoio_ffmpeg490_64.dll", False),
    ("numpy/core/_multiarray_umath.so", True),
])
def test_keep_collected(dest: str, keep: bool) -> None:
    assert helpers.keep_collected(dest) is keep


def test_prune_keeps_what_the_roots_link_to() -> None:
    binaries = [
        ("cv2/cv2.abi3.so", "/src/cv2.so", "EXTENSION"),
        ("libopencv_core.so", "/src/libopencv_core.so", "BINARY"),
        ("libz.so.1", "/src/libz.so.1", "BINARY"),
        ("libQt6Quick.so.6", "/src/libQt6Quick.so.6", "BINARY"),  # only a dropped plugin needed it
        ("libQt6Qml.so.6", "/src/libQt6Qml.so.6", "BINARY"),
        ("libpython3.11.so.1.0", "/src/libpython3.11.so.1.0", "BINARY"),
        ("onnxruntime/capi/libonnxruntime_providers_shared.so", "/src/ort_shared.so", "BINARY"),
    ]
    links = {"/src/cv2.so": [("libopencv_core.so", "")], "/src/libopencv_core.so": [("libz.so.1", "")],
             "/src/libQt6Quick.so.6": [("libQt6Qml.so.6", "")]}
    kept, dropped = helpers.prune_unreferenced(binaries, lambda src: links.get(src, []), platform="linux")
    assert dropped == {"libqt6quick.so.6", "libqt6qml.so.6"}
    assert [e[0] for e in kept] == [e[0] for e in binaries if e[0].lower() not in dropped]
    assert helpers.prune_unreferenced(binaries, lambda src: [], platform="darwin") == (binaries, set())

    def unreadable(src: str) -> list:
        raise OSError("bad ELF")

    assert helpers.prune_unreferenced(binaries, unreadable, platform="linux") == (binaries, set())


def test_dangling_symlinks_of_pruned_libraries_are_dropped() -> None:
    toc = [("libQt6Quick.so.6", "PySide6/Qt/lib/libQt6Quick.so.6", "SYMLINK"),
           ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
           ("libQt6Quick.so.6.x", "/src/libQt6Quick.so.6", "BINARY")]
    assert helpers.drop_dangling_symlinks(toc, {"libqt6quick.so.6"}) == toc[1:]


def test_only_the_interpreters_own_binaries_are_stripped(tmp_path: Path) -> None:
    assert helpers.is_python_own_binary("libpython3.11.so.1.0")
    assert helpers.is_python_own_binary("python3.11/lib-dynload/_ctypes.so")
    assert not helpers.is_python_own_binary("numpy/libpython_like.so")
    assert not helpers.is_python_own_binary("cv2/libopencv_core.so")
    entries = [("numpy/x.so", "/src/x.so", "BINARY")]
    assert helpers.strip_python_library(entries, tmp_path, platform="win32") == entries


def test_windows_version_numbers() -> None:
    assert helpers.windows_version_numbers("1.2.3") == (1, 2, 3, 0)
    assert helpers.windows_version_numbers("0.4.0rc2") == (0, 4, 0, 2)
