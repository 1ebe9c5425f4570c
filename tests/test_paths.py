"""Resource, model and user-data paths resolve the same way in every layout the app ships in.

Layouts: the source checkout (the real module), a PyInstaller bundle (``sys.frozen``/``sys._MEIPASS``
simulated on a tmp folder laid out like ``dist/malaria-desktop/_internal``), an installed wheel (a copy of
``paths.py`` inside a tmp ``site-packages/malaria_desktop``) and the environment overrides.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from malaria_desktop import paths

REPO = Path(__file__).resolve().parents[1]


def _card(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.json").write_text("{}", encoding="utf-8")
    (folder / "model.onnx").write_bytes(b"")
    return folder


def _load_copy(package_dir: Path) -> ModuleType:
    """Import a copy of paths.py placed in ``package_dir``, as if the package were installed there."""
    package_dir.mkdir(parents=True, exist_ok=True)
    target = package_dir / "paths.py"
    shutil.copy(paths.__file__, target)
    spec = importlib.util.spec_from_file_location(f"_paths_copy_{abs(hash(target))}", target)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (paths.MODEL_ENV, paths.DATA_ENV, "XDG_DATA_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)


def test_source_checkout_layout() -> None:
    assert not paths.is_frozen()
    assert paths.bundle_root() == REPO
    assert paths.resources_dir() == REPO / "malaria_desktop" / "resources"
    assert paths.resource_path("x.png") == REPO / "malaria_desktop" / "resources" / "x.png"
    assert paths.default_model_dir() == REPO / "trained_model"


def test_frozen_layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    meipass = tmp_path / "dist with spaces" / "malaria-desktop" / "_internal"
    module = _load_copy(meipass / "malaria_desktop")
    _card(meipass / "trained_model")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    assert module.is_frozen()
    assert module.bundle_root() == meipass
    assert module.resources_dir() == meipass / "malaria_desktop" / "resources"
    assert module.default_model_dir() == meipass / "trained_model"
    assert module.model_dir_candidates() == [meipass / "trained_model", meipass / "malaria_desktop" / "trained_model"]


def test_frozen_flag_without_meipass_is_not_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other freezers (cx_Freeze, py2exe) set sys.frozen only; we only support PyInstaller's layout."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert not paths.is_frozen()


def test_installed_wheel_with_packaged_model(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    module = _load_copy(site / "malaria_desktop")
    packaged = _card(site / "malaria_desktop" / "trained_model")
    assert module.resources_dir() == site / "malaria_desktop" / "resources"
    assert module.default_model_dir() == packaged


def test_installed_wheel_without_model_names_first_candidate(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    module = _load_copy(site / "malaria_desktop")
    assert module.default_model_dir() == site / "trained_model"
    assert module.default_model_dir() in module.model_dir_candidates()


def test_model_env_override_wins_everywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    meipass = tmp_path / "_internal"
    module = _load_copy(meipass / "malaria_desktop")
    _card(meipass / "trained_model")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    monkeypatch.setenv(paths.MODEL_ENV, str(tmp_path / "my model"))
    assert module.default_model_dir() == tmp_path / "my model"
    assert paths.default_model_dir() == tmp_path / "my model"


def test_data_env_override_is_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "data dir" / "nested"
    monkeypatch.setenv(paths.DATA_ENV, str(target))
    assert paths.user_data_dir() == target
    assert target.is_dir()


def test_linux_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_data_dir() == tmp_path / "home" / ".local" / "share" / paths.APP_NAME
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.user_data_dir() == tmp_path / "xdg" / paths.APP_NAME
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert paths.user_data_dir() == tmp_path / "home" / ".local" / "share" / paths.APP_NAME


def test_windows_and_macos_data_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert paths.user_data_dir() == tmp_path / "Local" / paths.APP_NAME
    monkeypatch.setattr(sys, "platform", "darwin")
    assert paths.user_data_dir() == tmp_path / "home" / "Library" / "Application Support" / paths.APP_NAME


def test_user_data_never_inside_the_program_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A clinic PC may install the bundle read-only: user data must live elsewhere even when frozen."""
    meipass = tmp_path / "app" / "_internal"
    module = _load_copy(meipass / "malaria_desktop")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    data = module.user_data_dir()
    assert tmp_path / "app" not in data.parents
