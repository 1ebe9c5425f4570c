"""The loaded classifier (or why there is none), shared by the controllers that need it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from malaria_desktop.core.classification.model_card import UncertainBand, margin_band


@dataclass
class ModelState:
    """Mutable on purpose: the window fills it when the background loader finishes or fails."""

    classifier: Any = None
    error: str = ""

    @property
    def card_threshold(self) -> float | None:
        return self.classifier.card.threshold if self.classifier is not None else None

    @property
    def card(self) -> Any:
        """The model card (``core.classification.model_card.ModelCard``), or None while no model is loaded."""
        return self.classifier.card if self.classifier is not None else None

    def band(self, threshold: float, margin: float) -> UncertainBand:
        """The uncertain band in use: the model card's calibrated one, else threshold ± the margin."""
        card = self.card
        return card.uncertain_band(threshold, margin) if card is not None else margin_band(threshold, margin)

    def folder_name(self, fallback: Path | None = None) -> str:
        """The model folder's name as reports and the status bar show it (never a full path)."""
        model_dir = getattr(self.classifier, "model_dir", None) or fallback
        return Path(model_dir).name if model_dir else "bundled model"
