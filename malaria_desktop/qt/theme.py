"""Text colours that stay readable on the light and on the dark system theme.

Why: fixed dark greys (#222 figures on a #2d2d2d dark-theme window) vanish on a dark desktop. Widgets ask
here for a *meaning* (good, bad, warn, info, reviewed, muted) and get the shade that reads on the current
palette's window colour (WCAG contrast >= 4.5:1 for both variants).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QProgressBar

SHADES: dict[str, tuple[str, str]] = {  # meaning: (on a light window, on a dark window)
    "good": ("#1b5e20", "#81c784"),
    "bad": ("#b71c1c", "#ef9a9a"),
    "warn": ("#7a4f00", "#ffcc80"),
    "info": ("#0d47a1", "#90caf9"),
    "reviewed": ("#0d47a1", "#90caf9"),
    "muted": ("#4a4a4a", "#c8c8c8"),
}


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    """The window background is dark (the user runs a dark theme)."""
    return (pal or palette()).color(QPalette.ColorRole.Window).lightnessF() < 0.5


def colour(meaning: str, pal: QPalette | None = None) -> str:
    """The hex colour for a meaning on the current (or given) palette."""
    light, dark = SHADES[meaning]
    return dark if is_dark(pal) else light


def text_colour(pal: QPalette | None = None) -> str:
    return (pal or palette()).color(QPalette.ColorRole.WindowText).name()


def _luminance(c: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def contrast_ratio(a: QColor | str, b: QColor | str) -> float:
    """WCAG 2 contrast ratio between two colours (1 = none, 21 = black on white)."""
    la, lb = sorted((_luminance(QColor(a)), _luminance(QColor(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def dark_palette() -> QPalette:
    """A typical dark desktop palette (tests, screenshots)."""
    pal = QPalette()
    for role, value in ((QPalette.ColorRole.Window, "#2d2d2d"), (QPalette.ColorRole.WindowText, "#eeeeee"),
                        (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#262626"),
                        (QPalette.ColorRole.Text, "#eeeeee"), (QPalette.ColorRole.Button, "#3a3a3a"),
                        (QPalette.ColorRole.ButtonText, "#eeeeee"), (QPalette.ColorRole.Highlight, "#2f65ca"),
                        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, "#3a3a3a"),
                        (QPalette.ColorRole.ToolTipText, "#eeeeee"), (QPalette.ColorRole.PlaceholderText, "#9a9a9a")):
        pal.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return pal


def set_bar(bar: QProgressBar, value: int, maximum: int, text: str) -> None:
    """Update a progress bar without its synchronous repaint.

    ``QProgressBar.setValue`` repaints at once (not at the next paint event); with the app's style sheet
    that took ~20 ms per call on the GUI thread, once per result and per review key. Here the bar is
    only marked dirty and painted with the rest of the window.
    """
    maximum = max(maximum, 1)
    value = max(0, min(value, maximum))
    if bar.maximum() == maximum and bar.value() == value and bar.format() == text:
        return
    bar.setUpdatesEnabled(False)
    try:
        bar.setMaximum(maximum)
        bar.setValue(value)
        bar.setFormat(text)
    finally:
        bar.setUpdatesEnabled(True)
    bar.update()
