"""Calibrate to this lab: fine-tune the classifier on reviewed cells with ONNX Runtime, judged by cross-validation.

Why a package: loading reviewed cells, the small numpy network, its gradient graph and the training loop are
separate steps of one job. Other packages use only the names below.
"""

from malaria_desktop.core.calibration.calibrate import (
    REPLAY_FILE,
    CalibrationOptions,
    CalibrationOutcome,
    CalibrationRefused,
    calibrate,
    calibration_job,
    group_folds,
    write_model,
)
from malaria_desktop.core.calibration.data import (
    CalibrationInputError,
    ReviewedCells,
    field_of,
    load_reviewed,
    session_cells,
    slide_of,
)
from malaria_desktop.core.calibration.graph import gradient_model
from malaria_desktop.core.calibration.net import Net, UnsupportedModel
from malaria_desktop.core.calibration.train import FitOptions, Trainer, auc, choose_threshold, figures_at, ort_session

__all__ = [
    "CalibrationInputError",
    "CalibrationOptions",
    "CalibrationOutcome",
    "CalibrationRefused",
    "FitOptions",
    "Net",
    "REPLAY_FILE",
    "ReviewedCells",
    "Trainer",
    "UnsupportedModel",
    "auc",
    "calibrate",
    "calibration_job",
    "choose_threshold",
    "field_of",
    "figures_at",
    "gradient_model",
    "group_folds",
    "load_reviewed",
    "ort_session",
    "session_cells",
    "slide_of",
    "write_model",
]
