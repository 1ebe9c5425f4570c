"""Settings say in plain words which probabilities count as uncertain (the model card's band or the margin)."""

from __future__ import annotations

from malaria_desktop.core.classification.model_card import parse_model_card
from malaria_desktop.qt.dialogs import SettingsDialog
from tests.helpers.tiny_model import tiny_card


def _dialog(qtbot, card, threshold: float) -> SettingsDialog:
    dialog = SettingsDialog(threshold=threshold, model_threshold=card.threshold if card else None,
                            rbc_per_ul=5_000_000, hyper_cutoff_pct=5.0, target_cells=2000, uncertain_margin=0.15,
                            card=card)
    qtbot.addWidget(dialog)
    return dialog


def test_calibrated_band_in_words_and_fallback(qtbot) -> None:
    data = tiny_card(threshold=0.2)
    data["uncertain_band"] = {"low": 0.08, "high": 0.55, "rule": "It holds 60 % of the validation errors."}
    dialog = _dialog(qtbot, parse_model_card(data), 0.2)
    text = dialog.band_note.text()
    assert "between 0.08 and 0.55" in text and "60 % of the validation errors" in text
    dialog.threshold.setValue(0.4)  # another threshold: the calibrated band no longer applies
    text = dialog.band_note.text()
    assert "between 0.25 and 0.55" in text and "threshold 0.40 \u00b1 0.15" in text and "own threshold" in text
    dialog.margin.setValue(0.05)
    assert "between 0.35 and 0.45" in dialog.band_note.text()


def test_without_a_model(qtbot) -> None:
    dialog = _dialog(qtbot, None, 0.5)
    assert "between 0.35 and 0.65" in dialog.band_note.text()


def test_ok_without_a_change_gives_back_the_card_threshold_exactly(qtbot) -> None:
    """The box shows 3 decimals; 0.9248110519 must not come back as 0.925 (a custom threshold, a lost band)."""
    data = tiny_card(threshold=0.9248110519180299)
    data["uncertain_band"] = {"low": 0.3725, "high": 0.9961, "rule": "It holds 60 % of the validation errors."}
    card = parse_model_card(data)
    dialog = _dialog(qtbot, card, card.threshold)
    assert dialog.values()["threshold"] == card.threshold
    assert "60 % of the validation errors" in dialog.band_note.text()  # the card's band, kept
    dialog.threshold.setValue(0.9)
    assert dialog.values()["threshold"] == 0.9 and "own threshold" in dialog.band_note.text()
    dialog.threshold.setValue(0.925)  # back to what it showed: the exact card value again
    assert dialog.values()["threshold"] == card.threshold


def test_ok_without_a_change_stores_nothing(qtbot, make_window) -> None:
    window = make_window()
    ctl = window.sessions
    s = window.document.session.settings
    dialog = SettingsDialog(threshold=window.document.threshold, model_threshold=ctl.model.card_threshold,
                            rbc_per_ul=int(s.rbc_per_ul), hyper_cutoff_pct=s.hyper_cutoff_pct,
                            target_cells=s.target_cells, uncertain_margin=0.15, card=ctl.model.card)
    qtbot.addWidget(dialog)
    before = dict(window.document.session.settings)
    ctl.apply_settings(dialog.values())  # Settings > OK, nothing touched
    assert ctl.settings.threshold(None) is None  # no custom threshold stored
    assert window.document.threshold == ctl.model.card_threshold
    assert dict(window.document.session.settings) == before
