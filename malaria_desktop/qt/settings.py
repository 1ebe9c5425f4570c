"""User settings persisted with QSettings in an INI file under ``paths.user_data_dir()``.

Why a file under the user data dir instead of the platform registry: one environment variable
(``MALARIA_DESKTOP_DATA``) then isolates everything the app writes (settings, autosave, logs), which keeps
tests from polluting each other and a clinic PC's data in one visible folder.

The report settings' defaults and rules are ``core.settings.ReportSettings``'s: ``report_settings()``
gives the typed, validated object a new slide starts with; a stored value that is not valid (a damaged or
hand-edited INI file) falls back to the default for that one setting instead of reaching the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from malaria_desktop import paths
from malaria_desktop.core.settings import DEFAULTS, ReportSettings, SettingsError

DEFAULT_UNCERTAIN_MARGIN = 0.15
MAX_RECENT = 8


def _to_float(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _to_int(value: object, default: int) -> int:
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


class AppSettings(QObject):
    """Typed accessors over one QSettings store; ``changed`` fires after any analysis-relevant change."""

    changed = Signal()

    def __init__(self, store: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if store is None:
            store = QSettings(str(paths.user_data_dir() / "settings.ini"), QSettings.Format.IniFormat)
        self._store = store

    @classmethod
    def at_path(cls, path: Path | str) -> "AppSettings":
        """Settings stored in an explicit INI file (tests, portable installs)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @property
    def file_name(self) -> str:
        return self._store.fileName()

    def sync(self) -> None:
        self._store.sync()

    # --- analysis settings -------------------------------------------------------------------------
    def threshold(self, model_default: float | None = None) -> float | None:
        """The user's threshold, or ``model_default`` (the model card's) when the user never set one."""
        value = self._store.value("analysis/threshold")
        if value is None or value == "":
            return model_default
        return _to_float(value, model_default if model_default is not None else 0.5)

    def has_custom_threshold(self) -> bool:
        return self._store.contains("analysis/threshold")

    def set_threshold(self, value: float | None) -> None:
        """``None`` returns to the model card's threshold."""
        if value is None:
            self._store.remove("analysis/threshold")
        else:
            self._store.setValue("analysis/threshold", float(value))
        self._store.sync()
        self.changed.emit()

    def _get_float(self, key: str, default: float) -> float:
        return _to_float(self._store.value(key, default), default)

    def _get_int(self, key: str, default: int) -> int:
        return _to_int(self._store.value(key, default), default)

    def _valid(self, name: str, value: object) -> Any:
        """``value`` if the settings type accepts it for ``name``, else the default."""
        try:
            return getattr(DEFAULTS.replace(**{name: value}), name)
        except SettingsError:
            return getattr(DEFAULTS, name)

    @property
    def rbc_per_ul(self) -> int:
        return int(self._valid("rbc_per_ul", self._get_float("analysis/rbc_per_ul", DEFAULTS.rbc_per_ul)))

    @property
    def hyper_cutoff_pct(self) -> float:
        return float(self._valid("hyper_cutoff_pct",
                                 self._get_float("analysis/hyper_cutoff_pct", DEFAULTS.hyper_cutoff_pct)))

    @property
    def target_cells(self) -> int:
        return int(self._valid("target_cells", self._get_int("analysis/target_cells", DEFAULTS.target_cells)))

    def report_settings(self, model_threshold: float | None = None) -> ReportSettings:
        """The validated settings a new slide starts with (threshold: the user's, else the model card's)."""
        card = model_threshold if model_threshold is not None else DEFAULTS.threshold
        threshold = self._valid("threshold", self.threshold(card))
        return DEFAULTS.replace(threshold=threshold, rbc_per_ul=float(self.rbc_per_ul),
                                hyper_cutoff_pct=self.hyper_cutoff_pct, target_cells=self.target_cells)

    @property
    def uncertain_margin(self) -> float:
        return self._get_float("analysis/uncertain_margin", DEFAULT_UNCERTAIN_MARGIN)

    def update(self, *, rbc_per_ul: int | None = None, hyper_cutoff_pct: float | None = None,
               target_cells: int | None = None, uncertain_margin: float | None = None) -> None:
        """Store several values at once and emit ``changed`` once."""
        for key, value in (("rbc_per_ul", rbc_per_ul), ("hyper_cutoff_pct", hyper_cutoff_pct),
                           ("target_cells", target_cells), ("uncertain_margin", uncertain_margin)):
            if value is not None:
                self._store.setValue(f"analysis/{key}", value)
        self._store.sync()
        self.changed.emit()

    # --- UI state ----------------------------------------------------------------------------------
    def recent_sessions(self) -> list[str]:
        value = self._store.value("recent/sessions", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def add_recent_session(self, path: Path | str) -> None:
        entry = str(Path(path))
        items = [p for p in self.recent_sessions() if p != entry]
        self._store.setValue("recent/sessions", [entry, *items][:MAX_RECENT])
        self._store.sync()

    def clear_recent_sessions(self) -> None:
        self._store.remove("recent/sessions")
        self._store.sync()

    def last_dir(self) -> str:
        return str(self._store.value("ui/last_dir", str(Path.home())))

    def set_last_dir(self, path: Path | str) -> None:
        self._store.setValue("ui/last_dir", str(path))

    def value(self, key: str, default: object = None) -> object:
        return self._store.value(key, default)

    def set_value(self, key: str, value: object) -> None:
        self._store.setValue(key, value)
