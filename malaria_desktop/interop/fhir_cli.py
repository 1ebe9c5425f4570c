"""``analyze --fhir FILE``: the slide's FHIR Bundle beside (or inside) the CSV report folder.

Why here and not in ``cli.py``: the command line stays a thin parser; this module knows where the file
goes and never stops the CSV reports. Inside ``--out`` (``--fhir OUT/slide.fhir.json``) the Bundle is
written into the folder's staging copy, so it is swapped in with the CSVs and listed in ``manifest.json``;
anywhere else it is written after the folder, atomically. A Bundle that cannot be written (a folder, a
missing or read-only folder) is reported as ``error`` and never leaves a partial file; the CSVs are
written either way. The automatic result of ``analyze`` is always ``preliminary``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from malaria_desktop import __version__

if TYPE_CHECKING:
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.report.counts import SlideSummary
    from malaria_desktop.interop.fhir_report import ModelInfo


def model_info(classifier: Classifier, threshold: float) -> ModelInfo:
    """The model as the Device states it: card name, the threshold used, the card's SHA-256, calibrated."""
    from malaria_desktop.core.classification.model_card import CARD_FILE
    from malaria_desktop.core.digest import sha256_of_file
    from malaria_desktop.interop.fhir_report import ModelInfo

    try:
        digest = sha256_of_file(Path(classifier.model_dir) / CARD_FILE)
    except OSError:
        digest = ""
    card = classifier.card
    return ModelInfo(name=card.name, threshold=float(threshold), card_sha256=digest,
                     calibrated=bool(card.extra.get("calibration")), exported=str(card.extra.get("exported", "") or ""))


@dataclass
class FhirOutput:
    """Where ``--fhir`` goes, and what went wrong writing it (``error``, empty when all is well)."""

    path: Path | None
    out: Path
    patient_id: str = ""
    slide_id: str = ""
    error: str = ""
    written: Path | None = None

    @property
    def inside_name(self) -> str | None:
        """The file name when ``--fhir`` is directly inside ``--out`` (written with the folder), else None."""
        if self.path is None or not self.path.name:
            return None
        same = os.path.normcase(os.path.abspath(self.path.parent)) == os.path.normcase(os.path.abspath(self.out))
        return self.path.name if same else None

    def folder_names(self) -> frozenset[str]:
        """Names the report folder may hold besides the CSVs (the Bundle, when it is inside)."""
        name = self.inside_name
        return frozenset({name}) if name else frozenset()

    def write(self, slide: SlideSummary, classifier: Classifier, threshold: float, stage: Path | None = None) -> None:
        """Write the Bundle: into ``stage`` when it belongs in the folder, else (``stage`` None) to ``path``."""
        from malaria_desktop.interop.fhir import FhirExportError, SlideReport, write_bundle
        from malaria_desktop.interop.fhir_report import csv_row

        inside = self.inside_name
        if self.path is None or (stage is None) != (inside is None):
            return  # not asked for, or written at the other step
        target = self.path if stage is None or inside is None else stage / inside
        report = SlideReport(figures=csv_row(slide), model=model_info(classifier, threshold), app_version=__version__,
                             issued=datetime.now(timezone.utc), patient_id=self.patient_id, slide_id=self.slide_id)
        try:
            write_bundle(target, report)
        except FhirExportError as exc:
            self.error = str(exc)
            return
        self.written = self.path


__all__ = ["FhirOutput", "model_info"]
