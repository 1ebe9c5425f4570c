"""The loaded classifier (or why there is none), shared by the controllers that need it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
        """The model card (``core.model_card.ModelCard``), or None while no model is loaded."""
        return self.classifier.card if self.classifier is not None else None
