"""The one place that decides where resources, the bundled model and user data live.

Three layouts must resolve the same way:
- source checkout: ``<repo>/malaria_desktop/resources`` and ``<repo>/trained_model``;
- installed wheel: resources inside the package; the model in ``malaria_desktop/trained_model`` if it was
  packaged there, else ``MALARIA_DESKTOP_MODEL`` or ``--model``;
- PyInstaller bundle: everything under ``sys._MEIPASS`` (``malaria_desktop/resources``, ``trained_model``).
User-writable data (settings, sessions, autosave, logs) never goes next to the program: the bundle's
folder may be read-only on a clinic PC.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "MalariaDesktop"
MODEL_ENV = "MALARIA_DESKTOP_MODEL"
DATA_ENV = "MALARIA_DESKTOP_DATA"
PACKAGE_DIR = Path(__file__).resolve().parent


def is_frozen() -> bool:
    """True inside a PyInstaller build."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_root() -> Path:
    """Folder holding the app's read-only files: the PyInstaller data dir or the source/site folder."""
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS"))  # noqa: B009 - set by PyInstaller only; typed as a plain getattr
    return PACKAGE_DIR.parent


def resources_dir() -> Path:
    """Icons and styles the running app reads."""
    return bundle_root() / "malaria_desktop" / "resources" if is_frozen() else PACKAGE_DIR / "resources"


def resource_path(name: str) -> Path:
    """Path of one resource file by name (e.g. ``"icon.png"``)."""
    return resources_dir() / name


def model_dir_candidates() -> list[Path]:
    """Where a bundled model is looked for, in order (also named in 'model not found' messages)."""
    return [bundle_root() / "trained_model", PACKAGE_DIR / "trained_model"]


def default_model_dir() -> Path:
    """The bundled model folder; ``MALARIA_DESKTOP_MODEL`` overrides it.

    Falls back to the first candidate when none holds a model card, so the loader's error names a real,
    expected location instead of an empty path.
    """
    override = os.environ.get(MODEL_ENV)
    if override:
        return Path(override).expanduser()
    candidates = model_dir_candidates()
    for candidate in candidates:
        if (candidate / "model_card.json").is_file():
            return candidate
    return candidates[0]


def _platform_data_base() -> Path:
    """The OS convention for per-user application data (no app name appended)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # the XDG spec says relative values are invalid and must be ignored
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"


def user_data_dir() -> Path:
    """Per-user writable folder for settings, sessions, autosave and logs (created on demand)."""
    override = os.environ.get(DATA_ENV)
    base = Path(override).expanduser() if override else _platform_data_base() / APP_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


S3_SCHEME = "s3://"


def is_s3_uri(path: object) -> bool:
    """True for ``s3://bucket/key`` given as text (archives on object storage; ``Path`` would fold its ``//``).

    Here, stdlib-only, because the CLI (in every build) and the cluster package (never in the desktop
    bundle) must agree on what is remote.
    """
    return isinstance(path, str) and path.lower().startswith(S3_SCHEME)
