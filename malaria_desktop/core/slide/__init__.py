"""The open slide, headless: the session plus run states, one undo history and change notifications.

Why a package: the working state of a slide is shared by the window, the CLI and batch runs; the Qt layer
only adapts it (``qt/models.py``). Other packages use only the names below.
"""

from malaria_desktop.core.slide.count_cache import CountCache, review_signature
from malaria_desktop.core.slide.model import (
    MAX_HISTORY,
    STAGE_TEXT,
    ImageEntry,
    RemovedImage,
    SlideEvent,
    SlideModel,
    State,
)

__all__ = [
    "MAX_HISTORY",
    "STAGE_TEXT",
    "CountCache",
    "ImageEntry",
    "RemovedImage",
    "SlideEvent",
    "SlideModel",
    "State",
    "review_signature",
]
