"""Right side of the window: the slide's figures in big type, automatic vs reviewed, and the flags.

All numbers come from ``core.report`` (the same formulas as the CSV export); this panel only lays them out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFrame, QGridLayout, QGroupBox, QLabel, QProgressBar, QSizePolicy, QVBoxLayout,
                               QWidget)

from malaria_desktop import INTENDED_USE
from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review import ImageKey, ReviewState, reviewed_result


@dataclass(frozen=True)
class Figures:
    """One column of the summary (automatic or reviewed)."""

    cells: int
    parasitized: int
    parasitemia_pct: float | None
    parasites_per_ul: float | None
    flags: tuple[str, ...]  # core.report flag codes


def slide_figures(results: Mapping[ImageKey, ImageResult], review: ReviewState | None, settings: Mapping) -> Figures:
    """Slide figures from ``core.report.summarise_slide``; ``review`` given -> the reviewed figures."""
    from malaria_desktop.core.report import summarise_slide
    from malaria_desktop.core.session import summary_options

    items = results.values() if review is None else (reviewed_result(k, r, review) for k, r in results.items())
    summary = summarise_slide(items, **summary_options(settings))
    return Figures(cells=summary.rbc_counted, parasitized=summary.n_parasitized,
                   parasitemia_pct=summary.parasitemia_pct, parasites_per_ul=summary.parasites_per_ul,
                   flags=tuple(summary.flags))


def flag_text(code: str, settings: Mapping) -> str:
    """A report flag code in words for the technician."""
    hyper = float(settings.get("hyper_cutoff_pct", 5.0))
    if code.startswith("fewer_than_"):
        n = code.split("_")[2]
        return f"Fewer than {int(n):,} red cells counted: the parasitemia is not reliable. Add more fields."
    if code.startswith("below_"):
        n = code.split("_")[1]
        return f"Below the {int(n):,}-cell target: add more fields if you can."
    return {
        "hyperparasitaemia": f"HYPERPARASITAEMIA: parasitemia at or above {hyper:g} %.",
        "some_images_failed": "Some images could not be analysed (see the image list).",
        "no_images_analysed": "No image analysed yet.",
    }.get(code, code.replace("_", " "))


def _big(text: str = "\u2013", size: int = 22, colour: str = "#222") -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"font-size: {size}px; font-weight: 600; color: {colour};")
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


def _small(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("color: #555;")
    return label


class SummaryPanel(QWidget):
    """Counts vs target, parasitemia, parasites/µL, flags; the reviewed column appears after the first edit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(330)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        box = QGroupBox("Slide result")
        grid = QGridLayout(box)
        grid.setVerticalSpacing(6)
        self.column_auto = _small("automatic")
        self.column_reviewed = _small("reviewed")
        grid.addWidget(self.column_auto, 0, 1, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.column_reviewed, 0, 2, Qt.AlignmentFlag.AlignRight)
        self.rows: dict[str, tuple[QLabel, QLabel]] = {}
        for row, (key, title) in enumerate((("cells", "Red cells"), ("parasitized", "Parasitized"),
                                            ("pct", "Parasitemia"), ("per_ul", "Parasites / \u00b5L")), start=1):
            grid.addWidget(QLabel(title), row, 0)
            auto, rev = _big(size=18), _big(size=18, colour="#0d47a1")
            grid.addWidget(auto, row, 1)
            grid.addWidget(rev, row, 2)
            self.rows[key] = (auto, rev)
        self.target_bar = QProgressBar()
        self.target_bar.setTextVisible(True)
        self.target_bar.setFormat("%v of %m target cells")
        grid.addWidget(self.target_bar, 5, 0, 1, 3)
        self.reviewed_note = _small("")
        self.reviewed_note.setWordWrap(True)
        grid.addWidget(self.reviewed_note, 6, 0, 1, 3)

        flags_box = QGroupBox("Flags")
        self.flags = QLabel("No images analysed yet.")
        self.flags.setWordWrap(True)
        self.flags.setTextFormat(Qt.TextFormat.RichText)
        QVBoxLayout(flags_box).addWidget(self.flags)

        self.footer = QLabel(f"<b>Intended use:</b> {html.escape(INTENDED_USE)}")
        self.footer.setWordWrap(True)
        self.footer.setTextFormat(Qt.TextFormat.RichText)
        self.footer.setFrameShape(QFrame.Shape.StyledPanel)
        self.footer.setStyleSheet("background: #fff3cd; color: #5d4300; padding: 6px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addWidget(flags_box)
        layout.addStretch(1)
        layout.addWidget(self.footer)
        self.update_figures(None, None, target=2000, edits=0)

    def update_figures(self, auto: Figures | None, reviewed: Figures | None, *, target: int, edits: int,
                       quality: list[str] | None = None, settings: Mapping | None = None) -> None:
        """Show the figures; ``reviewed`` is None until the technician edits something."""
        show_reviewed = reviewed is not None and edits > 0
        self.column_reviewed.setVisible(show_reviewed)
        for key, (auto_label, rev_label) in self.rows.items():
            auto_label.setText(_value(auto, key))
            rev_label.setText(_value(reviewed, key) if show_reviewed else "")
            rev_label.setVisible(show_reviewed)
        main = reviewed if show_reviewed else auto
        counted = main.cells if main else 0
        self.target_bar.setMaximum(max(target, 1))
        self.target_bar.setValue(min(counted, target))
        self.target_bar.setFormat(f"{counted:,} of {target:,} target cells" + (" \u2714" if counted >= target else ""))
        self.reviewed_note.setText(
            f"You reviewed {edits} cell{'s' if edits != 1 else ''}; the blue column is what will be reported."
            if show_reviewed else "Not reviewed yet: click cells to confirm or correct them." if auto else "")
        self._show_flags(main, quality or [], settings or {})

    def _show_flags(self, figures: Figures | None, quality: list[str], settings: Mapping) -> None:
        if figures is None:
            self.flags.setText("No images analysed yet.")
            return
        items = [f"<li style='color:#b71c1c'><b>{html.escape(flag_text(f, settings))}</b></li>"
                 for f in figures.flags]
        items += [f"<li style='color:#8a5a00'>{html.escape(q)}</li>" for q in quality]
        self.flags.setText("<ul style='margin-left:-20px'>" + "".join(items) + "</ul>" if items
                           else "<span style='color:#2e7d32'>No flags.</span>")


def _value(fig: Figures | None, key: str) -> str:
    if fig is None:
        return "\u2013"
    if key == "cells":
        return f"{fig.cells:,}"
    if key == "parasitized":
        return f"{fig.parasitized:,}"
    if key == "pct":
        return "\u2013" if fig.parasitemia_pct is None else f"{fig.parasitemia_pct:.2f} %"
    return "\u2013" if fig.parasites_per_ul is None else f"{fig.parasites_per_ul:,.0f}"
