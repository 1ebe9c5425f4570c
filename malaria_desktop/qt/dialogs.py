"""Dialogs: settings, export, about (model card + intended use). They collect input; the window acts."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from malaria_desktop import INTENDED_USE, __version__
from malaria_desktop.core.classification.model_card import ModelCard
from malaria_desktop.qt.plain_text import plain_text_labels
from malaria_desktop.versions import engine_versions


class SettingsDialog(QDialog):
    """Decision threshold (default: the model card's), RBC/µL, hyperparasitaemia cut-off, target count."""

    def __init__(self, *, threshold: float, model_threshold: float | None, rbc_per_ul: int,
                 hyper_cutoff_pct: float, target_cells: int, uncertain_margin: float,
                 card: ModelCard | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.card = card
        self.setWindowTitle("Settings")
        self.model_threshold = model_threshold
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.01, 0.99)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.01)
        self.threshold.setValue(threshold)
        self._exact = {round(v, 3): v for v in (model_threshold, threshold) if v is not None}  # threshold_value
        reset = QPushButton("Use the model's value" + (f" ({model_threshold:.3f})" if model_threshold else ""))
        reset.setEnabled(model_threshold is not None)
        reset.clicked.connect(lambda: self.threshold.setValue(model_threshold or threshold))
        row = QHBoxLayout()
        row.addWidget(self.threshold)
        row.addWidget(reset)
        self.rbc_per_ul = QSpinBox()
        self.rbc_per_ul.setRange(100_000, 10_000_000)
        self.rbc_per_ul.setSingleStep(100_000)
        self.rbc_per_ul.setGroupSeparatorShown(True)
        self.rbc_per_ul.setValue(rbc_per_ul)
        self.hyper = QDoubleSpinBox()
        self.hyper.setRange(0.1, 50.0)
        self.hyper.setDecimals(1)
        self.hyper.setSuffix(" %")
        self.hyper.setValue(hyper_cutoff_pct)
        self.target = QSpinBox()
        self.target.setRange(100, 100_000)
        self.target.setSingleStep(100)
        self.target.setValue(target_cells)
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.0, 0.5)
        self.margin.setDecimals(2)
        self.margin.setSingleStep(0.05)
        self.margin.setValue(uncertain_margin)
        form = QFormLayout()
        form.addRow("Decision threshold P(parasitized)", row)
        form.addRow("Red cells per \u00b5L (for parasites/\u00b5L)", self.rbc_per_ul)
        form.addRow("Hyperparasitemia cut-off", self.hyper)
        form.addRow("Target red cells per slide", self.target)
        form.addRow("Uncertain if within \u00b1 of threshold\n(when the model has no calibrated band)", self.margin)
        self.band_note = QLabel()
        self.band_note.setWordWrap(True)
        self.band_note.setMinimumWidth(420)
        note = self.band_note
        self.threshold.valueChanged.connect(self._update_band)
        self.margin.valueChanged.connect(self._update_band)
        self._update_band()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        plain_text_labels(self)

    def band_text(self) -> str:
        """The uncertain band the current values give, in plain words."""
        from malaria_desktop.core.classification.model_card import margin_band

        threshold, margin = self.threshold_value(), self.margin.value()
        band = self.card.uncertain_band(threshold, margin) if self.card is not None else margin_band(threshold, margin)
        text = band.describe()
        if self.card is not None and self.card.uncertain is not None and band is not self.card.uncertain:
            text += " (The model's calibrated band applies at its own threshold only.)"
        return text

    def _update_band(self, *_args) -> None:
        self.band_note.setText(self.band_text())

    def threshold_value(self) -> float:
        """The threshold the box means: the exact starting or model value while it shows that value rounded.

        The box shows 3 decimals: an untouched box (or "Use the model's value") gives back the exact value, so
        OK without a change stores no custom threshold and keeps the card's uncertain band (issue 19).
        """
        shown = self.threshold.value()
        return self._exact.get(round(shown, 3), shown)

    def values(self) -> dict[str, Any]:
        return {"threshold": self.threshold_value(), "rbc_per_ul": self.rbc_per_ul.value(),
                "hyper_cutoff_pct": self.hyper.value(), "target_cells": self.target.value(),
                "uncertain_margin": self.margin.value()}


class ExportDialog(QDialog):
    """Choose the report folder; lists what will be written there."""

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.folder = QLineEdit(str(folder))
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        what = QLabel(
            "<b>Written into this folder:</b><ul>"
            "<li><code>slide.csv</code>: the slide's count, parasitemia and flags (automatic and reviewed)</li>"
            "<li><code>images.csv</code>: one row per field image</li>"
            "<li><code>cells.csv</code>: one row per cell, with the model's and your label</li>"
            "<li><code>annotated/</code>: each image with its cells outlined</li>"
            "<li><code>crops/Parasitized</code>, <code>crops/Uninfected</code>: the reviewed cells, "
            "ready for re-training the model</li></ul>")
        what.setTextFormat(Qt.TextFormat.RichText)
        what.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Report folder:"))
        layout.addLayout(row)
        layout.addWidget(what)
        layout.addWidget(buttons)
        plain_text_labels(self)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Report folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def chosen_folder(self) -> Path:
        return Path(self.folder.text().strip())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        # nested values escaped too: HTML inside a card's list rendered in About (issue 24)
        text = ", ".join(_fmt(v) if not isinstance(v, (dict, list)) else html.escape(json.dumps(v))
                         for v in value[:12])
        return text + (", \u2026" if len(value) > 12 else "")
    return html.escape(str(value))


def _table(data: dict, depth: int = 0) -> str:
    """Nested dicts of the model card as nested tables (metrics per split, hyper-parameters...)."""
    rows = []
    for key, value in data.items():
        if value is None or value == "" or value == {}:
            continue
        label = html.escape(str(key).replace("_", " "))
        if isinstance(value, dict) and depth < 2:
            rows.append(f"<tr><td valign=top><b>{label}</b></td><td>{_table(value, depth + 1)}</td></tr>")
        else:
            shown = html.escape(json.dumps(value))[:300] if isinstance(value, dict) else _fmt(value)
            rows.append(f"<tr><td valign=top><b>{label}</b></td><td>{shown}</td></tr>")
    return "<table cellpadding=2>" + "".join(rows) + "</table>"


SECTIONS = (("Calibration to this lab", ("calibration",)), ("Metrics (held-out data)", ("metrics",)),
            ("Training data and training", ("training_data", "training")),
            ("Network", ("model",)), ("Versions", ("versions",)))


def model_card_html(card: ModelCard | None, error: str = "") -> str:
    """The About dialog's text: model card fields, training data, test metrics, intended use."""
    parts = [f"<h2>Malaria Desktop {html.escape(__version__)}</h2>",
             f"<p style='background:#fff3cd;padding:6px'><b>Intended use.</b> {html.escape(INTENDED_USE)}</p>"]
    engine = "<h3>Engine (locked library versions)</h3>" + _table(engine_versions())
    if card is None:
        parts.append(f"<p><b>No model loaded.</b> {html.escape(error)}</p>")
        return "".join(parts) + engine
    rows = {"Model": card.name, "Architecture": card.architecture,
            "Input": f"{card.input_size}\u00d7{card.input_size} RGB cell crops",
            "Decision threshold": f"{card.threshold:.3f}"}
    for key in ("threshold_rule", "exported"):
        if card.extra.get(key):
            rows[key.replace("_", " ").capitalize()] = card.extra[key]
    parts.append("<h3>Model card</h3>" + _table(rows))
    shown = set()
    for title, keys in SECTIONS:
        for key in keys:
            value = card.extra.get(key)
            shown.add(key)
            if not value:
                continue
            parts.append(f"<h3>{title}</h3>")
            parts.append(_table(value) if isinstance(value, dict) else f"<p>{_fmt(value)}</p>")
    rest = {k: v for k, v in card.extra.items() if k not in shown and k not in ("threshold_rule", "exported")}
    if rest:
        parts.append("<h3>More</h3>" + _table(rest))
    return "".join(parts) + engine


class AboutDialog(QDialog):
    def __init__(self, card: ModelCard | None, error: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Malaria Desktop")
        self.resize(620, 560)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.text.setHtml(model_card_html(card, error))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
