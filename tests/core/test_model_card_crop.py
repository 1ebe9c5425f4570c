"""The card names its crop function; cards written before core became sub-packages (issue 21) still load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from malaria_desktop.core.classification import crop_cell
from malaria_desktop.core.classification.model_card import CROP_FUNCTION, load_model_card, parse_model_card
from malaria_desktop.core.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]


def _card(crop: str) -> dict:
    data = json.loads((ROOT / "trained_model" / "model_card.json").read_text(encoding="utf-8"))
    data["preprocessing"]["crop"] = crop
    return data


def test_crop_function_names_the_real_function() -> None:
    assert f"{crop_cell.__module__}.{crop_cell.__qualname__}" == CROP_FUNCTION


@pytest.mark.parametrize("crop", ["malaria_desktop.core.classification.crops.crop_cell", CROP_FUNCTION, "crop_cell"])
def test_old_and_new_crop_names_load(crop: str) -> None:
    assert parse_model_card(_card(crop), Path("card")).input_size > 0


def test_committed_card_loads() -> None:
    assert load_model_card(ROOT / "trained_model").input_size > 0


def test_a_foreign_crop_is_refused() -> None:
    with pytest.raises(ModelError, match="preprocessing.crop"):
        parse_model_card(_card("someone_else.resize_whole_image"), Path("card"))
