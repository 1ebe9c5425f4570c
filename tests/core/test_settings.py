"""core.settings: one validated, frozen settings type with the defaults in one place (issue 12 item 2)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from malaria_desktop.core.settings import DEFAULTS, ReportSettings, SettingsError


def test_defaults_are_the_domain_defaults() -> None:
    assert (DEFAULTS.rbc_per_ul, DEFAULTS.hyper_cutoff_pct, DEFAULTS.target_cells, DEFAULTS.min_cells) == (
        5_000_000, 5.0, 2000, 500)
    assert DEFAULTS.count_edge_cells is True and 0 < DEFAULTS.threshold < 1


@pytest.mark.parametrize("changes, word", [
    ({"rbc_per_ul": 0}, "rbc_per_ul"), ({"rbc_per_ul": -5}, "rbc_per_ul"), ({"rbc_per_ul": math.inf}, "finite"),
    ({"rbc_per_ul": math.nan}, "finite"), ({"hyper_cutoff_pct": 0}, "percentage"),
    ({"hyper_cutoff_pct": 100.5}, "percentage"), ({"target_cells": "lots"}, "whole number"),
    ({"target_cells": 0}, "target_cells"), ({"target_cells": 2.5}, "whole number"), ({"target_cells": True}, "whole"),
    ({"min_cells": -1}, "min_cells"), ({"threshold": 1.0}, "threshold"), ({"threshold": "0.5"}, "number"),
    ({"count_edge_cells": "yes"}, "true or false"),
])
def test_invalid_values_cannot_exist(changes: dict, word: str) -> None:
    with pytest.raises(SettingsError, match=word):
        ReportSettings(**changes)
    with pytest.raises(SettingsError):
        DEFAULTS.replace(**changes)
    with pytest.raises(SettingsError):
        ReportSettings.from_mapping(changes)


def test_frozen_and_normalised() -> None:
    s = ReportSettings(rbc_per_ul=4_000_000, target_cells=1000.0)  # type: ignore[arg-type]
    assert isinstance(s.rbc_per_ul, float) and isinstance(s.target_cells, int) and s.target_cells == 1000
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.rbc_per_ul = 1.0  # type: ignore[misc]


def test_from_mapping_fills_missing_and_ignores_unknown_keys() -> None:
    s = ReportSettings.from_mapping({"threshold": 0.7, "future_option": 1})
    assert s == DEFAULTS.replace(threshold=0.7)
    assert ReportSettings.from_mapping(None) == DEFAULTS
    with pytest.raises(SettingsError):
        ReportSettings.from_mapping(["threshold"])  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="unknown"):
        DEFAULTS.replace(colour="red")


def test_mapping_view_and_round_trip() -> None:
    s = DEFAULTS.replace(hyper_cutoff_pct=2.0, count_edge_cells=False)
    assert s["hyper_cutoff_pct"] == 2.0 and s.get("nope", 3) == 3 and dict(s) == s.to_dict()
    assert ReportSettings.from_mapping(s.to_dict()) == s
    assert s.summary_kwargs() == {"rbc_per_ul": 5e6, "target_cells": 2000, "min_cells": 500,
                                  "hyper_cutoff_pct": 2.0, "count_edge_cells": False}
