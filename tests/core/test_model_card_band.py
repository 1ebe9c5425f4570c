"""The optional calibrated ``uncertain_band`` of the model card, and the threshold ± margin fallback."""

from __future__ import annotations

import pytest

from malaria_desktop.core.classification.model_card import margin_band, parse_model_card
from malaria_desktop.core.errors import ModelError
from tests.helpers.tiny_model import tiny_card


def test_band_absent_falls_back_to_margin() -> None:
    card = parse_model_card(tiny_card(threshold=0.2))
    assert card.uncertain is None
    band = card.uncertain_band(margin=0.15)
    assert band.low == pytest.approx(0.05) and band.high == pytest.approx(0.35)
    assert band.contains(0.3) and not band.contains(0.36) and not band.contains(None)
    assert "0.20 \u00b1 0.15" in band.describe()


def test_band_read_and_described() -> None:
    data = tiny_card(threshold=0.2)
    data["uncertain_band"] = {"low": 0.1, "high": 0.6, "rule": "Holds 80 % of validation errors."}
    card = parse_model_card(data)
    assert card.uncertain is not None and (card.uncertain.low, card.uncertain.high) == (0.1, 0.6)
    assert "uncertain_band" not in card.extra
    assert card.uncertain_band() is card.uncertain
    text = card.uncertain_band().describe()
    assert "0.10 and 0.60" in text and "80 % of validation errors" in text


def test_band_not_used_for_another_threshold() -> None:
    data = tiny_card(threshold=0.2)
    data["uncertain_band"] = {"low": 0.1, "high": 0.6}
    card = parse_model_card(data)
    assert card.uncertain_band(threshold=0.5, margin=0.1) == margin_band(0.5, 0.1)


@pytest.mark.parametrize("band", [{"low": 0.3, "high": 0.6}, {"low": 0.1, "high": 1.5}, {"low": "x", "high": 0.5},
                                  [0.1, 0.5], {"high": 0.5}])
def test_bad_band_is_a_clear_error(band) -> None:
    data = tiny_card(threshold=0.2)
    data["uncertain_band"] = band
    with pytest.raises(ModelError, match="uncertain_band|low"):
        parse_model_card(data)
