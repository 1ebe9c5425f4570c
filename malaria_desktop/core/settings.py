"""The report settings as one typed, validated, frozen object, with the defaults in this one place.

Why: the settings that decide a report's figures (decision threshold, RBC/uL, hyperparasitaemia cut-off,
cell targets, edge-cell rule) used to travel as ``dict[str, Any]`` with defaults repeated in the CLI, the
report, the session code and the Qt settings. A damaged session with ``rbc_per_ul = 0`` or
``target_cells = "lots"`` then got as far as the summary code and failed there (issue 13 item 2). Here an
invalid value cannot exist: ``ReportSettings(...)`` raises ``SettingsError`` on construction, and every
reader (CLI argparse defaults, ``report``, sessions, export, the Qt settings) starts from
``ReportSettings()``.

The object is also a read-only ``Mapping`` (``settings["target_cells"]``, ``settings.get(...)``,
``dict(settings)``) so code written against the old dictionaries keeps working while it moves to
attribute access; changes go through ``settings.replace(...)``, which validates again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from malaria_desktop.core.errors import MalariaDesktopError

MAX_RBC_PER_UL = 1e9  # ~100x a normal count: anything above is a typo (an extra digit or three)
MAX_CELL_TARGET = 10_000_000


class SettingsError(MalariaDesktopError, ValueError):
    """A settings value is missing its type or range; the message names the setting."""


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _integer(name: str, value: Any, low: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{name} must be a whole number, not {value!r}")
    if not low <= value <= MAX_CELL_TARGET:
        raise SettingsError(f"{name} must be between {low} and {MAX_CELL_TARGET:,}, not {value}")
    return value


@dataclass(frozen=True)
class ReportSettings(Mapping[str, Any]):
    """What a report's figures depend on; validated on construction (``SettingsError``)."""

    threshold: float = 0.5  # P(parasitized) at or above which a cell is parasitized; normally the model card's
    rbc_per_ul: float = 5_000_000.0  # patient's RBC count per microlitre (parasites/uL = ratio x this)
    hyper_cutoff_pct: float = 5.0  # hyperparasitaemia flag at or above this parasitemia (2, 5 or 10 in use)
    target_cells: int = 2000  # WHO: count at least 500 RBC, preferably 2,000
    min_cells: int = 500
    count_edge_cells: bool = True  # cells cut by the image border count (cells.csv marks them edge=1)

    def __post_init__(self) -> None:
        threshold = _number("threshold", self.threshold)
        if not 0.0 < threshold < 1.0:
            raise SettingsError(f"threshold must be between 0 and 1 (exclusive), not {threshold}")
        rbc = _number("rbc_per_ul", self.rbc_per_ul)
        if not 0.0 < rbc <= MAX_RBC_PER_UL:
            raise SettingsError(f"rbc_per_ul (red cells per microlitre) must be > 0 and at most 1e9, not {rbc}")
        cutoff = _number("hyper_cutoff_pct", self.hyper_cutoff_pct)
        if not 0.0 < cutoff <= 100.0:
            raise SettingsError(f"hyper_cutoff_pct must be a percentage in (0, 100], not {cutoff}")
        target = _integer("target_cells", self.target_cells, 1)
        minimum = _integer("min_cells", self.min_cells, 0)
        if not isinstance(self.count_edge_cells, bool):
            raise SettingsError(f"count_edge_cells must be true or false, not {self.count_edge_cells!r}")
        for name, value in (("threshold", threshold), ("rbc_per_ul", rbc), ("hyper_cutoff_pct", cutoff),
                            ("target_cells", target), ("min_cells", minimum)):
            object.__setattr__(self, name, value)  # normalised types (int 5000000 -> float, 2000.0 -> int)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, base: "ReportSettings | None" = None) -> "ReportSettings":
        """Settings from a mapping (a session file, old dictionaries): known keys only, missing ones from
        ``base`` (default: the defaults); raises SettingsError for a wrong type or range."""
        if data is None:
            return base or cls()
        if not isinstance(data, Mapping):
            raise SettingsError(f"settings must be a mapping of names to values, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return dataclasses.replace(base or cls(), **values)

    def replace(self, **changes: Any) -> "ReportSettings":
        """A copy with some values changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ use
    def summary_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``report.summarise_slide``."""
        return {"rbc_per_ul": self.rbc_per_ul, "target_cells": self.target_cells, "min_cells": self.min_cells,
                "hyper_cutoff_pct": self.hyper_cutoff_pct, "count_edge_cells": self.count_edge_cells}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (what sessions store)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # ------------------------------------------------------------ read-only Mapping (transition aid)
    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)


DEFAULTS = ReportSettings()

__all__ = ["DEFAULTS", "ReportSettings", "SettingsError"]
