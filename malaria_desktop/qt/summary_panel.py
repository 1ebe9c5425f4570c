"""Right side of the window: the slide's figures in big type, automatic vs reviewed, and the flags.

All numbers come from ``core.report.counts`` (the same formulas as the CSV export); this panel only lays them out.
Colours come from ``qt.theme`` (readable on light and dark desktops) and follow palette changes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QGroupBox, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from malaria_desktop import INTENDED_USE
from malaria_desktop.core.report.printable import flag_words, rbc_assumption
from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review.state import ImageKey, ReviewState, reviewed_result
from malaria_desktop.qt import theme
from malaria_desktop.qt.warning_groups import WarningTree


@dataclass(frozen=True)
class Figures:
    """One column of the summary (automatic or reviewed)."""

    cells: int
    parasitized: int
    parasitemia_pct: float | None
    parasites_per_ul: float | None
    flags: tuple[str, ...]  # core.report.counts flag codes
    verdict: str = ""  # core.report.estimate's line: parasites seen (with the interval) / not seen / indeterminate


_SUMMARIES: dict[tuple[int, bool], tuple[ImageResult, tuple, Any]] = {}  # (id(result), reviewed) -> summary
MAX_SUMMARIES = 20_000


def _image_summary(key: ImageKey, result: ImageResult, review: ReviewState | None, options: Mapping) -> Any:
    """One image's ``ImageSummary``, remembered while its result, edits and options stay the same.

    Why: the panel is refreshed after every result and every key press; summarising all cells of a
    1,000-image slide each time made adding images superlinear (issue 11 item 8).
    """
    from malaria_desktop.core.report.counts import summarise_image
    from malaria_desktop.core.slide.count_cache import review_signature

    signature = (review_signature(review, key) if review is not None else None, options["rbc_per_ul"],
                 options["count_edge_cells"])
    slot = (id(result), review is not None)
    hit = _SUMMARIES.get(slot)
    if hit is not None and hit[0] is result and hit[1] == signature:
        return hit[2]
    shown = result if review is None else reviewed_result(key, result, review)
    summary = summarise_image(shown, rbc_per_ul=options["rbc_per_ul"], count_edge_cells=options["count_edge_cells"])
    if len(_SUMMARIES) > MAX_SUMMARIES:
        _SUMMARIES.clear()
    _SUMMARIES[slot] = (result, signature, summary)
    return summary


def slide_figures(results: Mapping[ImageKey, ImageResult], review: ReviewState | None, settings: Mapping,
                  rates: Any = None, unconfirmed_share: float = 1.0, *, interval: bool = True) -> Figures:
    """Slide figures from ``core.report.counts.summarise_slide``; ``review`` given -> the reviewed figures;
    ``rates`` (``core.report.estimate.ErrorRates``) adds the verdict and the interval (``interval=False``: the
    verdict without its interval, ``figures_of_items``)."""
    return figures_of_items(column_items(results, review, settings), settings, rates, unconfirmed_share,
                            interval=interval)


def column_items(results: Mapping[ImageKey, ImageResult], review: ReviewState | None, settings: Mapping) -> list:
    """Each image's summary for one column (GUI thread: reads the live review state); a plain list of frozen
    summaries that ``figures_of_items`` may pool in another thread."""
    from malaria_desktop.core.review.session import summary_options

    options = summary_options(settings)
    return [_image_summary(k, r, review, options) for k, r in results.items()]


def figures_of_items(items: list, settings: Mapping, rates: Any = None, unconfirmed_share: float = 1.0, *,
                     interval: bool = True) -> Figures:
    """One column's figures from ``column_items``; reads nothing else, so it can run off the GUI thread."""
    from malaria_desktop.core.report.counts import summarise_slide, with_estimate
    from malaria_desktop.core.report.estimate import summary_verdict
    from malaria_desktop.core.review.session import summary_options

    options = summary_options(settings)
    summary = summarise_slide(items, **options)
    if rates is not None:
        summary = with_estimate(summary, rates, options["min_cells"], unconfirmed_share, interval=interval)
    return Figures(cells=summary.rbc_counted, parasitized=summary.n_parasitized,
                   parasitemia_pct=summary.parasitemia_pct, parasites_per_ul=summary.parasites_per_ul,
                   flags=tuple(summary.flags), verdict=summary_verdict(summary))


def flag_text(code: str, settings: Mapping) -> str:
    """A report flag code in words for the technician (the printed report uses the same words)."""
    return flag_words(code, float(settings.get("hyper_cutoff_pct", 5.0)))


def _big(text: str = "\u2013", size: int = 22) -> QLabel:
    label = QLabel(text)
    label.setProperty("big_size", size)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


def _small(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("muted", True)
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
            auto, rev = _big(size=16), _big(size=16)  # two columns of 7-digit figures fit in 300 px
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
        self.assumption = _small(rbc_assumption(5_000_000))
        self.assumption.setWordWrap(True)
        grid.addWidget(self.assumption, 7, 0, 1, 3)
        self.verdicts = QLabel("")  # automatic and reviewed verdict lines (core.report.estimate)
        self.verdicts.setWordWrap(True)
        self.verdicts.setTextFormat(Qt.TextFormat.PlainText)
        grid.addWidget(self.verdicts, 8, 0, 1, 3)

        flags_box = QGroupBox("Flags")
        self.flags = QLabel("No images analysed yet.")
        self.flags.setWordWrap(True)
        self.flags.setTextFormat(Qt.TextFormat.RichText)
        self.warnings = WarningTree()  # image-quality warnings: one line per kind, opens to the images
        self.warnings.setVisible(False)
        flags_layout = QVBoxLayout(flags_box)
        flags_layout.addWidget(self.flags)
        flags_layout.addWidget(self.warnings)

        self.footer = QLabel(f"<b>Intended use:</b> {html.escape(INTENDED_USE)}")
        self.footer.setWordWrap(True)
        self.footer.setTextFormat(Qt.TextFormat.RichText)
        self.footer.setFrameShape(QFrame.Shape.StyledPanel)
        self.footer.setStyleSheet("background: #fff3cd; color: #5d4300; padding: 6px;")  # same in both themes
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addWidget(flags_box)
        layout.addStretch(1)
        layout.addWidget(self.footer)
        self._apply_colours()
        self.update_figures(None, None, target=2000, edits=0)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_colours()
        super().changeEvent(event)

    def _apply_colours(self) -> None:
        """Figures in the palette's text colour, the reviewed column and notes in theme shades."""
        pal = self.palette()
        for auto, rev in self.rows.values():
            for label, colour in ((auto, theme.text_colour(pal)), (rev, theme.colour("reviewed", pal))):
                label.setStyleSheet(f"font-size: {label.property('big_size')}px; font-weight: 600; color: {colour};")
        for label in self.findChildren(QLabel):
            if label.property("muted"):
                label.setStyleSheet(f"color: {theme.colour('muted', pal)};")
        self._flag_colours = (theme.colour("bad", pal), theme.colour("warn", pal), theme.colour("good", pal))

    def update_figures(self, auto: Figures | None, reviewed: Figures | None, *, target: int, edits: int,
                       quality: list[str] | None = None, settings: Mapping | None = None,
                       accepted: int = 0) -> None:
        """Show the figures; ``reviewed`` is None until the technician edits something. ``edits`` counts the
        labelled cells, ``accepted`` those of them nobody saw (select-all + accept): never called reviewed."""
        show_reviewed = reviewed is not None and edits > 0
        self.column_reviewed.setVisible(show_reviewed)
        for key, (auto_label, rev_label) in self.rows.items():
            auto_label.setText(_value(auto, key))
            rev_label.setText(_value(reviewed, key) if show_reviewed else "")
            rev_label.setVisible(show_reviewed)
        main = reviewed if show_reviewed else auto
        counted = main.cells if main else 0
        theme.set_bar(self.target_bar, min(counted, target), target,
                      f"{counted:,} of {target:,} target cells" + (" \u2714" if counted >= target else ""))
        seen = edits - accepted
        unseen = f" {accepted:,} more accepted without being shown (not reviewed)." if accepted else ""
        self.reviewed_note.setText(
            f"You reviewed {seen:,} cell{'s' if seen != 1 else ''};{unseen} The right-hand column is what will be "
            "reported." if show_reviewed else "Not reviewed yet: confirm or correct cells in the image or the gallery."
            if auto else "")
        lines = [f"Automatic: {auto.verdict}" if auto and auto.verdict else "",
                 f"Reviewed: {reviewed.verdict}" if show_reviewed and reviewed and reviewed.verdict else ""]
        self.verdicts.setText("\n".join(line for line in lines if line))
        self.assumption.setText(rbc_assumption(float((settings or {}).get("rbc_per_ul", 5_000_000))))
        self._show_flags(main, quality or [], settings or {})

    def _show_flags(self, figures: Figures | None, quality: list[str], settings: Mapping) -> None:
        if figures is None:
            self.flags.setText("No images analysed yet.")
            return
        bad, warn, good = self._flag_colours
        items = [f"<li style='color:{bad}'><b>{html.escape(flag_text(f, settings))}</b></li>"
                 for f in figures.flags]
        items += [f"<li style='color:{warn}'>{html.escape(q)}</li>" for q in quality]
        self.flags.setText("<ul style='margin-left:-20px'>" + "".join(items) + "</ul>" if items
                           else f"<span style='color:{good}'>No flags.</span>")


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
